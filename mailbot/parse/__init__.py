"""Parsing at the edge: raw bytes become one frozen Email; nothing later sees MIME."""

from mailbot.parse.message import Address, Attachment, AuthHeader, AuthResult, Delivery, Email, Embedded, TextBody
from mailbot.parse.mime import parse_email, plain_text

__all__ = ["Address", "Attachment", "AuthHeader", "AuthResult", "Delivery", "Email", "Embedded", "TextBody", "parse_email", "plain_text"]
