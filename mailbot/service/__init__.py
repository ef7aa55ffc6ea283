"""The mailbox service: passes over the inbox, the outbox, and the long-running process around them."""
