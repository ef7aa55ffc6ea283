"""Every reason code mailbot gives, with the sentence a person reads for it."""

from types import MappingProxyType

REASONS = MappingProxyType(
    {
        # messages nobody answers
        "auto_submitted": "An automatic reply (out of office or similar): nothing to answer.",
        "bounce": "A delivery failure report or a message from a mail server: nothing to answer.",
        "bulk_or_list": "Bulk or mailing-list mail: nothing to answer.",
        "own_message": "Sent from the agencies mailbox itself: answering it would loop.",
        "acknowledgement": "A reply to mailbot's answer that asks for nothing (thanks, all sorted): nothing to answer.",
        # messages held for a person
        "sender_not_authenticated": "The sender's address could not be verified (no DMARC pass or aligned DKIM signature).",
        "unknown_organisation": "The sender's email domain belongs to no agency in the directory.",
        "unknown_endorser": "The sender's agency is known, but the sender is not in the directory.",
        "no_request_found": "Nothing in the message asks for access or password help.",
        "out_of_scope": "The message raises a matter mailbot does not handle (invoices, bookings, timesheets, complaints, leavers).",
        "malformed_message": "The message could not be read well enough to decide, or its sender cannot be replied to.",
        "text_too_long": "The message is longer than mailbot reads for requests; more people may be asked for.",
        "extraction_uncertain": "mailbot read the message but is not sure enough of who or what is asked for to answer alone; what was uncertain is listed.",
        "processing_timeout": "Reading this message took longer than mailbot allows one message; it was set aside so the rest of the mailbox could go on.",
        # set by the service, not by triage
        "message_too_large": "The message is larger than mailbot reads; it was not opened.",
        "reply_rate_limited": "Too many automatic replies went to this sender in the last hour; this one waits for a person.",
        "processing_failed": "mailbot failed while processing this message; the error is kept with it.",
        "message_unreadable": "The mail server could not read this message (reading it broke the connection); it stays in the inbox.",
        "reply_failed": "The reply could not be sent (the mail server refused it or kept failing); see its error.",
        # each request
        "endorser_not_senior_enough": "The sender is not senior enough to endorse this access.",
        "missing_full_name": "The person's full name (first name and surname) is missing.",
        "missing_work_email": "The person's email address is missing.",
        "not_a_work_email": "The person's address is on a personal mail service, not a work address.",
        "email_domain_mismatch": "The person's address is not on a domain of the sender's agency.",
        "access_level_unclear": "The message does not say which access is wanted.",
        "self_service_platform": "247 Time access is requested by the person on the 247 Time Support site.",
        "already_approved": "mailbot approved this person and access recently; the reply says when, and the worklist item is marked asked again.",
    }
)
