"""The review desk's routes: sign in, the queue, one message and its decision, history, directory, worklist, dashboard."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Callable

from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from mailbot.decide.authentication import trusted_header
from mailbot.decide.rules import sender_not_authenticated
from mailbot.directory import as_csv_files, parse_directory
from mailbot.parse import plain_text
from mailbot.errors import ConfigError
from mailbot.review import ACTIONS, AlreadyDecided, Edit, NotFound, ReviewDesk, held_reasons, sentence
from mailbot.review import dashboard as dashboard_figures
from mailbot.review import history, original, worklist
from mailbot.settings import is_loopback
from mailbot.store import conversations
from mailbot.store import directory as stored_directory
from mailbot.web import accounts, notices

COOKIE = "mailbot_session"
LOGIN_COOKIE = "mailbot_login_csrf"
STATIC = Path(__file__).resolve().parent / "static"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


MAX_REQUESTS = 100  # rows a decision form may carry


class NeedsLogin(Exception):
    pass


def _age(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours = minutes // 60
    return f"{hours} h {minutes % 60} min" if hours < 48 else f"{hours // 24} days"


def create_app(parts, templates: Path, host: str | None = None, decided: Callable[[], None] = lambda: None) -> FastAPI:
    """The desk for one configuration (parts from mailbot.service.wiring.build); cookies are Secure off loopback.
    `decided` is told when a decision has written a reply to the outbox (so that it goes at once)."""
    store, triage, settings = parts.store, parts.triage, parts.settings
    desk = ReviewDesk(store, triage, settings.service.replies_per_sender_per_hour)
    secure_cookies = not is_loopback(host or settings.web.host)
    env = Environment(loader=FileSystemLoader(str(templates / "web")), autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(sentence=sentence, age=_age, held_reasons=held_reasons, access_levels=triage.policy.access, actions=ACTIONS,
                       ranks=triage.policy.seniority_ranks, mailbox=settings.mailbox.address)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("nav", name)
        context.setdefault("notice", None)
        context.setdefault("error", "")
        return HTMLResponse(env.get_template(f"{name}.html.j2").render(**context), status_code=status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(NeedsLogin)
    async def to_login(request: Request, _exc: NeedsLogin):
        if request.method != "GET":
            return PlainTextResponse("sign in first", status_code=403)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException):
        """A page a person can read for what is not there (an old link, a typed address); JSON nowhere."""
        if exc.status_code != 404:
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
        user = accounts.session_for(store, request.cookies.get(COOKIE))
        what = {"no such message": "There is no message with that number.",
                "no source": "mailbot no longer keeps this message's text: it was purged after the retention period.",
                "no html": "This message has no HTML part: its source shows all there is.",
                "no such attachment": "This message has no such attachment."}
        return page("not_found", 404, nav="", user=user, what=what.get(str(exc.detail), "There is no page at this address."))

    def signed_in(request: Request) -> accounts.SignedIn:
        user = accounts.session_for(store, request.cookies.get(COOKIE))
        if user is None:
            raise NeedsLogin()
        request.state.user = user
        return user

    async def checked_form(request: Request, user: accounts.SignedIn = Depends(signed_in)):
        """A POST's form, refused unless it carries the session's CSRF token."""
        form = await request.form()
        if not accounts.csrf_ok(user.csrf_token, form.get("csrf")):
            raise HTTPException(status_code=403, detail="the form's security token is missing or wrong; reload the page")
        return form

    def directory_ready() -> None:
        parts.sync_directory()

    # -- signing in --------------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz():
        return JSONResponse({"status": "ok"})

    @app.get("/static/desk.css")
    def css():
        return Response((STATIC / "desk.css").read_bytes(), media_type="text/css")

    @app.get("/login")
    def login_form(request: Request, notice: str = ""):
        token = secrets.token_urlsafe(24)
        response = page("login", notice=notices.notice(notice), csrf=token, user=None)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies, max_age=1800)
        return response

    @app.post("/login")
    def log_in(request: Request, name: str = Form(""), password: str = Form(""), csrf: str = Form("")):
        if not accounts.csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), csrf):
            return PlainTextResponse("the form's security token is missing or wrong; reload the page", status_code=403)
        try:
            token, _user = accounts.log_in(store, name, password, request.client.host if request.client else "")
        except accounts.LoginRefused:
            return RedirectResponse("/login?notice=refused", status_code=303)
        response = RedirectResponse("/queue", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    def log_out(request: Request, form=Depends(checked_form)):
        accounts.log_out(store, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # -- the queue and one message ------------------------------------------------------------------

    @app.get("/")
    def home(user=Depends(signed_in)):
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue")
    def queue(request: Request, reason: str = "", q: str = "", notice: str = "", message: int | None = None, user=Depends(signed_in)):
        items = desk.queue(reason or None, q or None)
        said = notices.notice(notice)
        if notice == "decided" and message is not None:
            try:
                row = desk.message(message)[0]
                said = notices.decided(message, row.outcome, row.reply is not None and row.reply.status == "pending")
            except NotFound:
                pass
        # After a decision, focus goes to the next message waiting (the first in the queue), not back to the page's top.
        return page("queue", user=user, items=items, reason=reason, q=q, counts=desk.reasons_waiting(), notice=said,
                    focus_first=notice == "decided")

    @app.get("/messages/{message_id}")
    def message(message_id: int, notice: str = "", user=Depends(signed_in)):
        return message_view(message_id, user, notice=notices.notice(notice))

    def message_view(message_id: int, user, status: int = 200, preview=None, filled=None, **context) -> HTMLResponse:
        """A message's page; `preview` the draft of an action with the reviewer's corrections (`filled`: the form)."""
        directory_ready()
        try:
            row, review, audit = desk.message(message_id)
        except NotFound:
            raise HTTPException(status_code=404, detail="no such message")
        email = desk.email(row)
        header = trusted_header(email, triage.decider.trusted_ids, triage.decider.exchange_online)
        verified = triage.decider.facts(email)
        person = triage.directory.person(email.sender.email if email.sender else None)
        reasons = held_reasons(review.reasons, row.requests) if review else ()
        thread, recent = conversations.thread(store, message_id)
        waiting = [item.message_id for item in desk.queue()]
        here = waiting.index(message_id) if message_id in waiting else None
        previous = waiting[here - 1] if here is not None and here > 0 else None
        following = waiting[here + 1] if here is not None and here + 1 < len(waiting) else (waiting[0] if waiting and here is None else None)
        drafts, now = {}, None
        if review is not None and review.status == "open":
            if preview is None:
                drafts = {action: desk.preview(message_id, action) for action in ("approve", "info", "reject")}
            slow = {"processing_timeout", "processing_failed", "message_too_large"}.intersection(row.reasons or ())
            if row.raw and not slow:  # the rules again, with the directory as it is now (a sender just added, say)
                now = triage.run(row.raw).decision
        sent = plain_text(row.reply.content) if row.reply is not None and row.reply.content else None
        return page("message", status, nav="queue", user=user, message=row, review=review, reasons=reasons, audit=audit, email=email,
                    auth_header=header, thread=thread, recent=recent, authenticated=sender_not_authenticated(verified) is None,
                    person=person, organisation=verified.organisation, previous=previous, following=following,
                    drafts=drafts, preview=preview, filled=filled or {}, sent=sent, now=now,
                    downloads=original.attachments(row.raw) if row.raw else [],
                    has_html=bool(row.raw) and original.html_part(row.raw) is not None, **context)

    def stored_raw(message_id: int) -> bytes:
        try:
            row = desk.message(message_id)[0]
        except NotFound:
            raise HTTPException(status_code=404, detail="no such message")
        if not row.raw:
            raise HTTPException(status_code=404, detail="no source")
        return row.raw

    @app.get("/messages/{message_id}/source")
    def message_source(message_id: int, user=Depends(signed_in)):
        """The message as it came, as plain text (never rendered)."""
        return PlainTextResponse(stored_raw(message_id).decode("utf-8", "replace"))

    @app.get("/messages/{message_id}/message.eml")
    def message_download(message_id: int, user=Depends(signed_in)):
        return Response(stored_raw(message_id), media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="message-{int(message_id)}.eml"'})

    @app.get("/messages/{message_id}/original")
    def message_html(message_id: int, user=Depends(signed_in)):
        """The HTML part as the sender's mail client showed it, sandboxed: no script, nothing fetched from anywhere."""
        html = original.html_part(stored_raw(message_id))
        if html is None:
            raise HTTPException(status_code=404, detail="no html")
        return HTMLResponse(html, headers={"Content-Security-Policy": original.INERT})

    @app.get("/messages/{message_id}/attachments/{number}")
    def message_attachment(message_id: int, number: int, user=Depends(signed_in)):
        """One attachment's bytes, to download (never shown in the browser, whatever type it claims)."""
        parts = original.attachments(stored_raw(message_id))
        if not 0 <= number < len(parts):
            raise HTTPException(status_code=404, detail="no such attachment")
        part = parts[number]
        return Response(part.data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{part.filename}"'})

    def form_edits(form) -> list[Edit] | None:
        try:
            count = int(form.get("count", "0") or 0)
        except ValueError:
            count = -1
        if not 0 <= count <= MAX_REQUESTS:  # the page writes it; anything else is a damaged or forged form
            return None
        edits = [Edit(form.get(f"name{n}"), form.get(f"email{n}"), form.get(f"access{n}")) for n in range(count)]
        extra = Edit(form.get("name_new"), form.get("email_new"), form.get("access_new"))
        if (extra.name or "").strip() or (extra.email or "").strip():
            edits.append(extra)
        return edits

    @app.post("/messages/{message_id}/preview")
    def preview(message_id: int, form=Depends(checked_form), user=Depends(signed_in)):
        directory_ready()
        edits = form_edits(form)
        if edits is None:
            return RedirectResponse(f"/messages/{message_id}?notice=form_damaged", status_code=303)
        try:
            draft = desk.preview(message_id, form.get("action", ""), edits, (form.get("to_sender") or "")[:4000])
        except ValueError:
            return RedirectResponse(f"/messages/{message_id}?notice=unknown_action", status_code=303)
        except NotFound:
            raise HTTPException(status_code=404, detail="no such message")
        filled = {key: str(value)[:2000] for key, value in form.items() if key != "csrf"}
        return message_view(message_id, user, preview=draft, filled=filled)

    @app.post("/messages/{message_id}/decide")
    def decide(message_id: int, request: Request, form=Depends(checked_form), user=Depends(signed_in)):
        directory_ready()
        action = form.get("action", "")
        edits = form_edits(form)
        if edits is None:
            return RedirectResponse(f"/messages/{message_id}?notice=form_damaged", status_code=303)
        try:
            desk.decide(message_id, action, user.name, (form.get("note") or "").strip()[:2000], edits,
                                 (form.get("to_sender") or "")[:4000])
        except AlreadyDecided:
            return RedirectResponse(f"/messages/{message_id}?notice=decided_already", status_code=303)
        except ValueError:
            return RedirectResponse(f"/messages/{message_id}?notice=unknown_action", status_code=303)
        except NotFound:
            raise HTTPException(status_code=404, detail="no such message")
        decided()
        return RedirectResponse(f"/queue?notice=decided&message={int(message_id)}", status_code=303)

    # -- history, directory, worklist, dashboard -----------------------------------------------------

    @app.get("/history")
    def history_page(q: str = "", user=Depends(signed_in)):
        return page("history", user=user, messages=history.search(store, q or None), q=q)

    @app.get("/directory")
    def directory_page(notice: str = "", user=Depends(signed_in)):
        return directory_view(user, notice=notices.notice(notice))

    def directory_view(user, status: int = 200, **context) -> HTMLResponse:
        directory_ready()
        people = sorted(triage.directory.people.values(), key=lambda p: (p.organisation, p.name))
        organisations = sorted({o.name: o for o in triage.directory.organisations.values()}.values(), key=lambda o: o.name)
        last = stored_directory.last_import(store)
        return page("directory", status, user=user, people=people, organisations=organisations,
                    last_import=last.line() if last else "", **context)

    @app.post("/directory/import")
    async def directory_import(request: Request, organisations: UploadFile = File(...), people: UploadFile = File(...),
                               user=Depends(signed_in)):
        form = await request.form()
        if not accounts.csrf_ok(user.csrf_token, form.get("csrf")):
            raise HTTPException(status_code=403, detail="the form's security token is missing or wrong; reload the page")
        try:
            imported = parse_directory(await organisations.read(), await people.read(), triage.policy.seniority_ranks)
        except ConfigError as bad:  # said on the page this POST renders, never through a link
            return directory_view(user, 400, error=f"Not imported: {bad}")
        try:
            stored_directory.import_directory(store, imported, user.name, "upload on the desk", merge=form.get("merge") == "1")
        except stored_directory.ImportRefused as refused:
            return directory_view(user, 409, error=f"Not imported: {refused}.")
        directory_ready()
        return RedirectResponse("/directory?notice=imported", status_code=303)

    @app.post("/directory/people/edit")
    def directory_edit(form=Depends(checked_form), user=Depends(signed_in)):
        seniority = form.get("seniority")
        if seniority not in triage.policy.seniority_ranks:
            return RedirectResponse("/directory?notice=unknown_seniority", status_code=303)
        try:
            changed = stored_directory.edit_person(store, form.get("email", ""), user.name, name=form.get("name") or None,
                                                   title=form.get("title") or None, seniority=seniority)
        except KeyError:
            return RedirectResponse("/directory?notice=no_such_person", status_code=303)
        directory_ready()
        return RedirectResponse("/directory?notice=" + ("saved" if changed else "nothing_changed"), status_code=303)

    @app.post("/directory/people/add")
    def directory_add_person(form=Depends(checked_form), user=Depends(signed_in)):
        """Add a person: on the directory page, or "add this sender" on a held message (then back to it, decided again)."""
        seniority = form.get("seniority")
        back = form.get("message", "")
        to = f"/messages/{int(back)}" if back.isdigit() else "/directory"
        if seniority not in triage.policy.seniority_ranks:
            return RedirectResponse(f"{to}?notice=unknown_seniority", status_code=303)
        try:
            stored_directory.add_person(store, form.get("email", ""), form.get("name", ""), form.get("organisation", ""),
                                        form.get("title", ""), seniority, user.name, source="held message" if back else "desk")
        except stored_directory.DirectoryRefused as refused:
            if back.isdigit():
                return message_view(int(back), user, 400, error=f"Not added: {refused}.")
            return directory_view(user, 400, error=f"Not added: {refused}.")
        directory_ready()
        return RedirectResponse(f"{to}?notice=person_added", status_code=303)

    @app.post("/directory/people/remove")
    def directory_remove_person(form=Depends(checked_form), user=Depends(signed_in)):
        removed = stored_directory.remove_person(store, form.get("email", ""), user.name)
        directory_ready()
        return RedirectResponse("/directory?notice=" + ("person_removed" if removed else "no_such_person"), status_code=303)

    @app.post("/directory/organisations/add")
    def directory_add_organisation(form=Depends(checked_form), user=Depends(signed_in)):
        try:
            stored_directory.add_organisation(store, form.get("name", ""), (form.get("domains") or "").replace(",", " ").split(), user.name)
        except stored_directory.DirectoryRefused as refused:
            return directory_view(user, 400, error=f"Not added: {refused}.")
        directory_ready()
        return RedirectResponse("/directory?notice=organisation_added", status_code=303)

    @app.post("/directory/organisations/remove")
    def directory_remove_organisation(form=Depends(checked_form), user=Depends(signed_in)):
        try:
            stored_directory.remove_organisation(store, form.get("name", ""), user.name)
        except stored_directory.DirectoryRefused as refused:
            return directory_view(user, 409, error=f"Not removed: {refused}.")
        directory_ready()
        return RedirectResponse("/directory?notice=organisation_removed", status_code=303)

    @app.get("/directory/{name}.csv")
    def directory_csv(name: str, user=Depends(signed_in)):
        if name not in ("organisations", "people"):
            raise HTTPException(status_code=404, detail="no such file")
        directory_ready()
        organisations, people = as_csv_files(triage.directory)
        return Response(organisations if name == "organisations" else people, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    @app.get("/worklist")
    def worklist_page(notice: str = "", user=Depends(signed_in)):
        return page("worklist", user=user, items=worklist.open_items(store), done=worklist.recently_done(store),
                    notice=notices.notice(notice))

    @app.post("/worklist/{request_id}/undo")
    def worklist_undo(request_id: int, form=Depends(checked_form), user=Depends(signed_in)):
        ok = worklist.undo_done(store, request_id, user.name)
        return RedirectResponse("/worklist?notice=" + ("undone" if ok else "nothing_changed"), status_code=303)

    @app.post("/worklist/{request_id}/done")
    def worklist_done(request_id: int, form=Depends(checked_form), user=Depends(signed_in)):
        ok = worklist.mark_done(store, request_id, user.name)
        return RedirectResponse("/worklist?notice=" + ("marked_done" if ok else "done_already"), status_code=303)

    @app.post("/worklist/{request_id}/checked")
    def worklist_checked(request_id: int, form=Depends(checked_form), user=Depends(signed_in)):
        ok = conversations.clear(store, request_id, "address_bounced", user.name)
        return RedirectResponse("/worklist?notice=" + ("address_checked" if ok else "nothing_changed"), status_code=303)

    @app.get("/worklist.csv")
    def worklist_csv(user=Depends(signed_in)):
        labels = {key: level.label for key, level in triage.policy.access.items()}
        return Response(worklist.as_csv(worklist.open_items(store), labels), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="mailbot-worklist.csv"'})

    @app.get("/dashboard")
    def dashboard_page(user=Depends(signed_in)):
        data = dashboard_figures.figures(store)
        return page("dashboard", user=user, data=data, chart=Markup(dashboard_figures.chart_svg(data)),  # built escaped
                    colours=dashboard_figures.OUTCOME_COLOURS)

    return app
