"""``flowgen deploy``: build, check, plan, then create or update only what differs.

The order matters for safety: the flow is built and validated locally and
the role lists are checked before any call (the only call before the plan
is the Globus Auth lookup of usernames in the role lists, and it changes
nothing); the lock file is written only after the service confirmed the
change. A second deploy of the same config finds nothing to change and
sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowgen.core.errors import UsageError
from flowgen.core.findings import Finding
from flowgen.deploy.auth import environment
from flowgen.deploy.errors import (
    AdoptionRefusedError,
    DeployedFlowGoneError,
    RemoteValidationError,
)
from flowgen.deploy.identities import Identity
from flowgen.deploy.lockfile import Lock, lock_path, now, read_lock, sha256_of, write_lock
from flowgen.deploy.plan import DesiredFlow, Plan, make_plan, web_address
from flowgen.deploy.remote import validate_remotely
from flowgen.deploy.roles import UsernameLookup, resolve_roles
from flowgen.flowcron.build import BuiltFlow, build_checked

if TYPE_CHECKING:
    import globus_sdk

Confirm = Callable[[str], bool]
"""Asks the user a yes/no question; None where nobody can answer (scripts, CI)."""


@dataclass(frozen=True)
class LocalFlow:
    """The built flow and everything deploy will set, checked and ready to send."""

    config: Path
    built: BuiltFlow
    desired: DesiredFlow
    warnings: list[Finding]
    notes: tuple[str, ...] = ()
    """Things to tell the user that are not flow findings (an identity that never logged in)."""

    @property
    def lock_path(self) -> Path:
        """The lock file next to the config."""
        return lock_path(self.config, self.built.config.name)

    def lock(self, flow_id: str, deployed_at: str) -> Lock:
        """The lock recording this flow deployed as ``flow_id``."""
        d = self.desired
        return Lock(
            flow_id=flow_id,
            environment=environment(),
            title=d.title,
            definition_sha256=sha256_of(d.definition),
            input_schema_sha256=sha256_of(d.input_schema),
            roles={role: list(values) for role, values in sorted(d.roles.items())},
            deployed_at=deployed_at,
            usernames={name: urn for urn, name in sorted(d.names.items())},
        )


def prepare(
    config: Path,
    role_overrides: Mapping[str, Sequence[str]] | None = None,
    *,
    lookup: UsernameLookup | None = None,
) -> LocalFlow:
    """Build and validate the flow and check its roles, all before any change is sent.

    Usernames in the role lists are resolved with ``lookup`` (by default,
    Globus Auth as the logged-in user), in one call made only when there are
    usernames and only after everything else was checked offline.
    """
    built, warnings = build_checked(config)
    settings = built.config.deploy
    roles = resolve_roles(
        settings, role_overrides or {}, config=str(config), lookup=lookup or _session_lookup
    )
    desired = DesiredFlow(
        title=built.config.flow_title,
        definition=built.definition,
        input_schema=built.input_schema,
        subtitle=settings.subtitle,
        description=settings.description,
        keywords=settings.keywords,
        roles=roles.lists,
        subscription_id=settings.subscription_id,
        names=roles.names,
    )
    notes = tuple(note for i in roles.identities.values() if (note := i.note))
    return LocalFlow(config, built, desired, warnings, notes)


def _session_lookup(usernames: Sequence[str]) -> Mapping[str, Identity]:
    # Looked up through the module so that a session set up by the caller
    # (or a test) is the one used.
    from flowgen.deploy import auth
    from flowgen.deploy.identities import lookup_usernames

    return lookup_usernames(auth.open_session().auth(), usernames)


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did (or, with ``dry_run``, would do)."""

    plan: Plan
    flow_id: str | None
    applied: bool
    adopted: bool = False
    lock_written: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def web_address(self) -> str | None:
        """The flow's page in the Globus web app, once it exists."""
        return web_address(self.flow_id) if self.flow_id else None

    def to_json(self) -> dict[str, Any]:
        """The result as plain JSON (``--format json``)."""
        return {
            **self.plan.to_json(),
            "flow_id": self.flow_id,
            "applied": self.applied,
            "adopted": self.adopted,
            "lock_written": self.lock_written,
            "web_address": self.web_address,
            "usernames": {name: urn for urn, name in sorted(self.plan.desired.names.items())},
        }


def deployed_flow(
    client: globus_sdk.FlowsClient,
    local: LocalFlow,
    *,
    recreate: bool = False,
    assume_yes: bool = False,
    confirm: Confirm | None = None,
    dry_run: bool = False,
) -> tuple[dict[str, Any] | None, bool]:
    """The flow document this config is deployed as, or None; and whether it was adopted.

    The lock file decides; without one, a flow the caller administers with
    the same title is adopted only when the user agrees.
    """
    import globus_sdk

    lock = read_lock(local.lock_path)
    if lock is not None and not recreate:
        if lock.environment != environment():
            raise UsageError(
                f"{local.lock_path}: records a flow in the Globus environment "
                f"{lock.environment!r}, but flowgen is using {environment()!r}; "
                f"set GLOBUS_SDK_ENVIRONMENT={lock.environment} or use another config"
            )
        try:
            return dict(client.get_flow(lock.flow_id).data), False
        except globus_sdk.FlowsAPIError as exc:
            if exc.http_status != 404:
                raise
            raise DeployedFlowGoneError(
                f"{local.lock_path}: flow {lock.flow_id} no longer exists on Globus "
                "(deleted in the web app?); run 'flowgen deploy --recreate "
                f"{local.config}' to create it again and replace the lock file"
            ) from None
    if recreate:
        if lock is not None and lock.environment == environment():
            _refuse_to_forget(client, local, lock.flow_id)
        return None, False
    return _adopt_by_title(client, local, assume_yes=assume_yes, confirm=confirm, dry_run=dry_run)


def _refuse_to_forget(client: globus_sdk.FlowsClient, local: LocalFlow, flow_id: str) -> None:
    """``--recreate`` is for a deleted flow: never orphan one that still exists."""
    import globus_sdk

    try:
        client.get_flow(flow_id)
    except globus_sdk.FlowsAPIError as exc:
        if exc.http_status == 404:
            return
        raise
    raise UsageError(
        f"--recreate: flow {flow_id} in {local.lock_path} still exists, and a new flow would "
        f"leave it behind unrecorded; deploy without --recreate to update it, or delete it "
        f"first ('globus flows delete {flow_id}')"
    )


def _adopt_by_title(
    client: globus_sdk.FlowsClient,
    local: LocalFlow,
    *,
    assume_yes: bool,
    confirm: Confirm | None,
    dry_run: bool,
) -> tuple[dict[str, Any] | None, bool]:
    title = local.desired.title
    matches = [
        dict(flow)
        for flow in client.paginated.list_flows(filter_roles=["flow_administrator"]).items()
        if flow.get("title") == title
    ]
    if not matches:
        return None, False
    if len(matches) > 1:
        ids = ", ".join(str(m["id"]) for m in matches)
        raise AdoptionRefusedError(
            f"several flows you administer are titled {title!r} ({ids}); delete the extra "
            f"ones or set a distinct 'title' in {local.config}"
        )
    found = matches[0]
    question = (
        f"No lock file {local.lock_path} yet, but you administer flow {found['id']} titled "
        f"{title!r}. Adopt it (its definition and roles will be updated to match {local.config})?"
    )
    if not (dry_run or assume_yes or (confirm is not None and confirm(question))):
        hint = "rerun with --yes to adopt it" if confirm is None else "nothing was changed"
        raise AdoptionRefusedError(
            f"flow {found['id']} titled {title!r} was not adopted; {hint}, or set a "
            f"distinct 'title' in {local.config} to create a new flow"
        )
    # list_flows may leave out the definition; the plan needs the full document.
    return dict(client.get_flow(found["id"]).data), True


def check_remotely(client: globus_sdk.FlowsClient, local: LocalFlow) -> None:
    """Raise :class:`RemoteValidationError` when the service's validation finds problems."""
    definition_file, schema_file = local.built.file_names()
    findings = validate_remotely(
        client,
        local.desired.definition,
        local.desired.input_schema,
        {"definition": definition_file, "input_schema": schema_file},
    )
    if findings:
        listing = "\n".join(f"  {f}" for f in findings)
        raise RemoteValidationError(f"the Globus service found problems in the flow:\n{listing}")


def deploy(
    client: globus_sdk.FlowsClient,
    local: LocalFlow,
    *,
    dry_run: bool = False,
    validate_remote: bool = False,
    recreate: bool = False,
    assume_yes: bool = False,
    confirm: Confirm | None = None,
) -> DeployResult:
    """Plan the deploy of ``local`` and, unless ``dry_run``, apply it and write the lock."""
    if validate_remote:
        check_remotely(client, local)
    deployed, adopted = deployed_flow(
        client, local, recreate=recreate, assume_yes=assume_yes, confirm=confirm, dry_run=dry_run
    )
    plan = make_plan(local.desired, deployed)
    notes = [f"would adopt flow {plan.flow_id} (found by its title)"] if adopted and dry_run else []
    if dry_run:
        return DeployResult(plan, plan.flow_id, applied=False, adopted=adopted, notes=notes)
    if plan.creates:
        flow_id = str(client.create_flow(**plan.create_kwargs())["id"])
    else:
        assert plan.flow_id is not None
        flow_id = plan.flow_id
        if not plan.is_empty:
            client.update_flow(flow_id, **plan.update_kwargs())
    # Only now, after the service confirmed, does the lock change.
    existing = read_lock(local.lock_path)
    lock = local.lock(flow_id, now())
    written = existing is None or not existing.same_deployment(lock)
    if written:
        write_lock(local.lock_path, lock)
    return DeployResult(
        plan, flow_id, applied=not plan.is_empty, adopted=adopted, lock_written=written
    )


def drift(client: globus_sdk.FlowsClient, local: LocalFlow) -> Plan:
    """How the deployed flow differs from the local build (``diff --deployed``); never changes anything."""
    deployed, _ = deployed_flow(client, local, dry_run=True)
    if deployed is None:
        raise DeployedFlowGoneError(
            f"{local.config}: no deployed flow found (no lock file {local.lock_path} and no "
            f"flow you administer titled {local.desired.title!r}); deploy it with "
            f"'flowgen deploy {local.config}'"
        )
    return make_plan(local.desired, deployed)
