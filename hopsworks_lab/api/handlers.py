"""Tornado handlers over the platform services (DESIGN §5 paths)."""

from __future__ import annotations

import ipaddress

from .. import __version__
from ..platform import ratelimit
from ..platform.models import Role, UserStatus
from . import render
from .base import PlatformHandler
from .spec import load_spec

API_VERSION = 1
# The browser's address, sent by the hub with its login requests (see LoginHandler).
CLIENT_HEADER = "X-Hopsworks-Client-Address"


# -- meta -------------------------------------------------------------------------------------
class VersionHandler(PlatformHandler):
    async def get(self) -> None:
        self.send({"version": __version__, "api_version": API_VERSION})


class OpenAPIHandler(PlatformHandler):
    async def get(self) -> None:
        self.send(load_spec())


class CACertificateHandler(PlatformHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/x-pem-file")
        self.finish(await self.call(self.platform.ca.ca_pem))


class CRLHandler(PlatformHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/x-pem-file")
        self.finish(await self.call(self.platform.ca.publish_crl))


# -- auth and users -------------------------------------------------------------------------------
class LoginHandler(PlatformHandler):
    async def post(self) -> None:
        body = self.body("LoginRequest")
        user = await self.call(
            self.platform.users.authenticate,
            body["username"],
            body["password"],
            body.get("otp"),
            await self.client_address(),
        )
        session = self.platform.tokens.issue_session(user)
        self.send(
            {
                "token": session.token,
                "expires_at": render.ts(session.expires_at),
                "user": render.user(user),
            }
        )

    async def client_address(self) -> str | None:
        """Whose failed logins this one counts with: the caller's address, or the browser's
        that the hub forwards in CLIENT_HEADER. Anyone can send that header, so it counts
        only with an administrator's key (the hub's): else one client could spread its
        guesses over made-up addresses, or use up a victim's."""
        forwarded = self.request.headers.get(CLIENT_HEADER)
        if forwarded is None or not self.request.headers.get("Authorization"):
            return self.sender_address()
        actor = await self.actor()
        if not (actor.is_admin and actor.has_scope("admin") and not actor.project_user):
            return self.sender_address()
        try:
            return str(ipaddress.ip_address(forwarded.strip()))
        except ValueError:
            return self.sender_address()  # not an address: counted with the sender's own

    def sender_address(self) -> str | None:
        """Over the Unix socket every peer reads "0.0.0.0": the peer's Unix account tells
        them apart. Over TCP from the hub's proxy (a trusted proxy) the address the proxy
        was reached from, which it appends to X-Forwarded-For; else the peer's address."""
        uid = self.peer_uid
        if uid is not None:
            return f"uid:{uid}"
        return ratelimit.client_address(
            self.remote_ip,
            self.request.headers.get("X-Forwarded-For"),
            self.platform.config.trusted_proxies,
        )


class UsersHandler(PlatformHandler):
    async def get(self) -> None:
        users = await self.call(self.platform.users.list, await self.actor())
        self.send(render.items([render.user(u) for u in users]))

    async def post(self) -> None:
        body = self.body("UserCreate")
        user = await self.call(
            self.platform.users.create,
            await self.actor(),
            body["username"],
            body["password"],
            email=body.get("email"),
            is_admin=body.get("is_admin", False),
        )
        self.send(render.user(user), 201)


class UserHandler(PlatformHandler):
    async def get(self, username: str) -> None:
        user = await self.call(self.platform.users.lookup, await self.actor(), username)
        self.send(render.user(user))

    async def patch(self, username: str) -> None:
        body = self.body("UserUpdate")
        status = UserStatus(body["status"]) if "status" in body else None
        user = await self.call(
            self.platform.users.update,
            await self.actor(),
            username,
            status=status,
            is_admin=body.get("is_admin"),
            email=body.get("email"),
        )
        self.send(render.user(user))


class MeHandler(PlatformHandler):
    async def get(self) -> None:
        self.send(render.user(await self.call(self.platform.users.me, await self.actor())))


class PasswordHandler(PlatformHandler):
    async def put(self) -> None:
        body = self.body("PasswordChange")
        await self.call(
            self.platform.users.change_password,
            await self.actor(),
            body["old_password"],
            body["new_password"],
        )
        self.set_status(204)
        self.finish()


class TotpHandler(PlatformHandler):
    async def post(self) -> None:
        enrolment = await self.call(self.platform.users.totp_enrol, await self.actor())
        self.send({"secret": enrolment.secret, "provisioning_uri": enrolment.provisioning_uri}, 201)


class TotpConfirmHandler(PlatformHandler):
    async def post(self) -> None:
        body = self.body("OtpRequest")
        await self.call(self.platform.users.totp_confirm, await self.actor(), body["otp"])
        self.send(render.user(await self.call(self.platform.users.me, await self.actor())))


class TotpDisableHandler(PlatformHandler):
    async def post(self) -> None:
        body = self.body("OtpRequest")
        await self.call(self.platform.users.totp_disable, await self.actor(), body["otp"])
        self.send(render.user(await self.call(self.platform.users.me, await self.actor())))


class ApiKeysHandler(PlatformHandler):
    async def get(self) -> None:
        keys = await self.call(self.platform.tokens.list_api_keys, await self.actor())
        self.send(render.items([render.apikey(k) for k in keys]))

    async def post(self) -> None:
        body = self.body("ApiKeyCreate")
        new = await self.call(
            self.platform.tokens.create_api_key,
            await self.actor(),
            body["name"],
            body["scopes"],
            body.get("project"),
        )
        self.send({**render.apikey(new.record), "key": new.key}, 201)


class ApiKeyHandler(PlatformHandler):
    async def delete(self, name: str) -> None:
        await self.call(self.platform.tokens.revoke_api_key, await self.actor(), name)
        self.set_status(204)
        self.finish()


# -- projects -------------------------------------------------------------------------------
class ProjectsHandler(PlatformHandler):
    async def get(self) -> None:
        projects = await self.call(
            self.platform.projects.list, await self.actor(), all_projects=self.bool_arg("all")
        )
        self.send(render.items([render.project(p) for p in projects]))

    async def post(self) -> None:
        body = self.body("ProjectCreate")
        project = await self.call(
            self.platform.projects.create,
            await self.actor(),
            body["name"],
            body.get("description"),
            owner=body.get("owner"),
        )
        self.send(render.project(project), 201)


class ProjectHandler(PlatformHandler):
    async def get(self, name: str) -> None:
        project = await self.call(self.platform.projects.get, await self.actor(), name)
        self.send(render.project(project))

    async def patch(self, name: str) -> None:
        body = self.body("ProjectUpdate")
        project = await self.call(
            self.platform.projects.update, await self.actor(), name, body.get("description")
        )
        self.send(render.project(project))

    async def delete(self, name: str) -> None:
        await self.call(self.platform.projects.delete, await self.actor(), name)
        self.set_status(204)
        self.finish()


class MembersHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        members = await self.call(self.platform.members.list, await self.actor(), project)
        self.send(render.items([render.member(m) for m in members]))

    async def post(self, project: str) -> None:
        body = self.body("MemberAdd")
        member = await self.call(
            self.platform.members.add,
            await self.actor(),
            project,
            body["username"],
            Role(body["role"]),
        )
        self.send(render.member(member), 201)


class MemberHandler(PlatformHandler):
    async def put(self, project: str, username: str) -> None:
        body = self.body("MemberUpdate")
        member = await self.call(
            self.platform.members.change_role,
            await self.actor(),
            project,
            username,
            Role(body["role"]),
        )
        self.send(render.member(member))

    async def delete(self, project: str, username: str) -> None:
        await self.call(self.platform.members.remove, await self.actor(), project, username)
        self.set_status(204)
        self.finish()


class MyCertificateHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        bundle = await self.call(self.platform.members.certificate, await self.actor(), project)
        self.send(render.certificate(bundle))


# -- audit ------------------------------------------------------------------------------------
class AuditHandler(PlatformHandler):
    async def get(self) -> None:
        records = await self.call(
            self.platform.audit.list,
            await self.actor(),
            after=self.int_arg("after", 0),
            limit=self.int_arg("limit", 100, 1, 1000),
        )
        self.send(render.items([render.audit(r) for r in records]))


class ProjectAuditHandler(PlatformHandler):
    async def get(self, project: str) -> None:
        records = await self.call(
            self.platform.projects.audit_trail,
            await self.actor(),
            project,
            after=self.int_arg("after", 0),
            limit=self.int_arg("limit", 100, 1, 1000),
        )
        self.send(render.items([render.audit(r) for r in records]))


class AuditVerifyHandler(PlatformHandler):
    async def get(self) -> None:
        check = await self.call(self.platform.audit.verify, await self.actor())
        self.send({"ok": check.ok, "records": check.records, "broken_at": check.broken_at})


# -- for the hub ------------------------------------------------------------------------------
class UserProjectsHandler(PlatformHandler):
    async def get(self, username: str) -> None:
        projects = await self.call(self.platform.projects.list_for, await self.actor(), username)
        self.send(render.items([render.project(p) for p in projects]))


class CredentialsHandler(PlatformHandler):
    async def post(self, project: str, username: str) -> None:
        creds = await self.call(
            self.platform.credentials.issue, await self.actor(), project, username
        )
        self.send(
            {
                "project": creds.project,
                "username": creds.username,
                "key": creds.key,
                "unix_user": creds.unix_user,
                "notebook_dir": creds.notebook_dir,
                "certificate": render.certificate(creds.certificate),
                "environment": render.env_location(creds.environment),
                "role": creds.role.value,
            },
            201,
        )

    async def delete(self, project: str, username: str) -> None:
        await self.call(self.platform.credentials.revoke, await self.actor(), project, username)
        self.set_status(204)
        self.finish()
