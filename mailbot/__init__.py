"""mailbot: answers the NHSP agencies mailbox by the rules of NHSP's quick guide."""

__version__ = "0.1.0"
