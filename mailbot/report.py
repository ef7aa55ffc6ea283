"""Says what triage decided: the contract's JSON object per message, or a table row for people."""

from __future__ import annotations

from mailbot.triage import TriageResult


def as_contract(file: str, result: TriageResult) -> dict:
    """The output object of the triage contract for one message."""
    decision, reply = result.decision, result.reply
    endorser = decision.endorser
    return {
        "file": file,
        "message_id": result.email.message_id,
        "outcome": decision.outcome,
        "reasons": list(decision.reasons),
        "endorser": None
        if endorser is None or decision.outcome == "ignored"
        else {
            "email": endorser.email,
            "name": endorser.name,
            "organisation": endorser.organisation,
            "seniority": endorser.seniority,
            "source": endorser.source,
            "stated_title": endorser.stated_title,
        },
        "requests": [
            {
                "name": item.request.name,
                "email": item.request.email,
                "access": item.request.access,
                "outcome": item.outcome,
                "reasons": list(item.reasons),
            }
            for item in decision.requests
        ],
        "reply": None
        if reply is None
        else {
            "template": reply.template,
            "to": [a.email for a in reply.to],
            "cc": [a.email for a in reply.cc],
            "subject": reply.subject,
            "body": reply.text,
        },
    }


def table_row(file: str, result: TriageResult) -> tuple[str, str, str, str]:
    """(file, outcome, reasons, requests) for the human-readable table."""
    decision = result.decision
    reasons = {*decision.reasons, *(r for item in decision.requests for r in item.reasons)}
    requests = "; ".join(
        f"{item.request.name or '?'} <{item.request.email or '?'}> {item.request.access or '?'}: {item.outcome}"
        for item in decision.requests
    )
    return file, decision.outcome, ", ".join(sorted(reasons)), requests
