"""Replies: a decision rendered through the template named after its outcome."""

from mailbot.reply.render import Reply, ReplyRenderer

__all__ = ["Reply", "ReplyRenderer"]
