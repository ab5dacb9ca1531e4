"""Can the starters use the flow's folders on the HPC? A read-only check with Transfer.

Every transfer, mkdir, stat and delete of the FlowCron flow runs as the
person who started the run (its Action states run as the User), so each
member of the Starter group needs access of their own to the instance's
folders on the HPC collection (:data:`NEEDS`): read and write on
``UploadedFiles/``, ``AnalysedFiles/`` and ``FailedJobs/``, read on
``CodeToRun/slurm/``. One rule, read and write on the base path, covers them
all.

On a guest collection that access is a permission (ACL) rule, and the
collection's administrators and access managers may read the rules: for each
starter (group, identity, or all authenticated users) this module adds up
the rules whose path contains each folder and reports what is missing, with
the ``globus endpoint permission`` command that grants it. On a mapped
collection ACLs do not apply (each person reaches the files as their own
account on the HPC), and a caller who may not read the rules cannot check:
both are reported as a skipped check saying why. Nothing here changes
anything, and nothing here fails a deploy.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hpc_agent import protocol

if TYPE_CHECKING:
    import globus_sdk


@dataclass(frozen=True)
class Need:
    """Access the flow needs on one folder under the base path."""

    folder: str
    """Relative to the base path, ending in ``/``."""
    permissions: str
    """``r`` or ``rw``, as Transfer spells permissions."""
    purpose: str


NEEDS: tuple[Need, ...] = (
    Need(f"{protocol.UPLOADED}/", "rw", "the upload, and the hand-over to the agent (mkdir)"),
    Need(f"{protocol.RUNNING}/", "r", "checking on the job while it runs"),
    Need(
        f"{protocol.ANALYSED}/",
        "rw",
        "r to copy the results back, w to delete the HPC copy when a run asks to",
    ),
    Need(
        f"{protocol.FAILED}/",
        "rw",
        "r to copy a failed job back, w to delete its HPC copy when a run asks to",
    ),
)
"""What the FlowCron flow touches on the HPC collection, and why (see flowgen.flowcron.flow)."""

_GROUP_URN = "urn:globus:groups:id:"
_IDENTITY_URN = "urn:globus:auth:identity:"
_ALL_USERS = "all_authenticated_users"
# Rules for these principal types apply to everybody, whoever the starter is.
_EVERYBODY = (_ALL_USERS, "anonymous")

WEB_APP_STEPS = (
    "app.globus.org > Collections > {name} > Permissions: give each starter above read and "
    "write on {base} (Add Permission, or edit a read-only one there)"
)


@dataclass(frozen=True)
class Starter:
    """One entry of the flow's Starter role, as Transfer names principals."""

    principal_type: str
    """``group``, ``identity`` or ``all_authenticated_users``."""
    principal: str
    """The group or identity id; empty for all authenticated users."""
    label: str

    def grant_flags(self) -> list[str]:
        """The ``globus endpoint permission create`` flags naming this principal."""
        if self.principal_type == "group":
            return ["--group", self.principal]
        if self.principal_type == "identity":
            return ["--identity", self.principal]
        return ["--all-authenticated"]


def starters_of(urns: Sequence[str], names: Mapping[str, str] | None = None) -> list[Starter]:
    """The starters to check, from the role list's URNs (``names``: URN -> username)."""
    found: list[Starter] = []
    for urn in urns:
        if urn.startswith(_GROUP_URN):
            gid = urn[len(_GROUP_URN) :]
            found.append(Starter("group", gid, f"group {gid}"))
        elif urn.startswith(_IDENTITY_URN):
            iid = urn[len(_IDENTITY_URN) :]
            name = (names or {}).get(urn)
            found.append(
                Starter("identity", iid, f"identity {iid}" + (f" ({name})" if name else ""))
            )
        elif urn == _ALL_USERS:
            found.append(Starter(_ALL_USERS, "", "all authenticated users"))
    return found


@dataclass(frozen=True)
class Gap:
    """Access one starter lacks on one folder."""

    starter: Starter
    path: str
    needed: str
    has: str
    purpose: str

    def to_json(self) -> dict[str, str]:
        """The gap as plain JSON."""
        return {
            "principal_type": self.starter.principal_type,
            "principal": self.starter.principal,
            "path": self.path,
            "needed": self.needed,
            "has": self.has,
        }

    def __str__(self) -> str:
        has = self.has or "no access"
        return (
            f"{self.starter.label} needs {self.needed} on {self.path} (has {has}): {self.purpose}"
        )


Status = Literal["ok", "missing", "skipped"]


@dataclass(frozen=True)
class AccessReport:
    """What the access check found; never an error."""

    collection: str
    base_path: str
    """The base path with its final ``/``, as ACL paths are written."""
    status: Status
    reason: str = ""
    """Why the check was skipped (``skipped`` only)."""
    gaps: tuple[Gap, ...] = ()
    grants: tuple[tuple[str, ...], ...] = ()
    """``globus`` command lines that grant what is missing (or, when skipped, what to ask for)."""
    name: str = ""
    """The collection's display name, for messages."""

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON (part of ``deploy --format json``)."""
        return {
            "status": self.status,
            "collection": self.collection,
            "base_path": self.base_path,
            "reason": self.reason,
            "missing": [g.to_json() for g in self.gaps],
            "grant": [list(g) for g in self.grants],
        }

    def render(self) -> list[str]:
        """The report for people, one message per line (printed on stderr)."""
        where = f"collection {self.name} ({self.collection})" if self.name else self.collection
        grants = [f"  {shlex.join(g)}" for g in self.grants]
        if self.status == "ok":
            return [
                f"access check: every starter has the access the flow needs under "
                f"{self.base_path} on {where}"
            ]
        if self.status == "skipped":
            lines = [f"access check skipped: {self.reason}"]
            if grants:
                lines += [
                    "What to grant (run by an administrator or access manager of the collection):",
                    *grants,
                ]
            return lines
        return [
            f"warning: on {where}, some starters lack access the flow needs (transfers run as "
            "the person who starts the run, so these steps fail for them):",
            *(f"  {gap}" for gap in self.gaps),
            "Grant it (as an administrator or access manager of the collection) with:",
            *grants,
            "or in the web app: "
            + WEB_APP_STEPS.format(name=self.name or self.collection, base=self.base_path),
        ]


def check_access(
    client: globus_sdk.TransferClient,
    collection: str,
    base_path: str,
    starter_urns: Sequence[str],
    *,
    names: Mapping[str, str] | None = None,
) -> AccessReport:
    """Check that every starter has the access :data:`NEEDS` lists under ``base_path``.

    Reads the collection (``get_endpoint``) and its permission rules
    (``endpoint_acl_list``); never raises for what the service answers: a
    refusal, a mapped collection or a missing Transfer login makes a
    ``skipped`` report saying why.
    """
    base = base_path.rstrip("/") + "/"
    starters = starters_of(starter_urns, names)

    def skipped(reason: str, grants: Sequence[Sequence[str]] = (), name: str = "") -> AccessReport:
        return AccessReport(
            collection, base, "skipped", reason, grants=tuple(tuple(g) for g in grants), name=name
        )

    if not starters:
        return skipped("the flow has no starters, so there is nobody to check")
    create_all = [_create(collection, base, s) for s in starters]

    endpoint, problem = _read(lambda: client.get_endpoint(collection))
    if endpoint is None:
        reason = _refusal(problem, collection, base, "describe")
        return skipped(reason, create_all if _forbidden(problem) else ())
    name = str(endpoint.get("display_name") or endpoint.get("canonical_name") or "")
    if endpoint.get("acl_available") is not True:
        return skipped(_no_acls(endpoint, collection, base), name=name)

    listing, problem = _read(lambda: client.endpoint_acl_list(collection))
    if listing is None:
        reason = _refusal(problem, collection, base, "list the permissions of")
        return skipped(reason, create_all if _forbidden(problem) else (), name)

    rules = [r for r in listing.get("DATA", []) if isinstance(r, dict)]
    owner = str(endpoint.get("owner_id") or "").lower()
    gaps: list[Gap] = []
    grants: list[list[str]] = []
    for starter in starters:
        if starter.principal_type == "identity" and starter.principal == owner:
            continue  # the owner of a guest collection has full access without a rule
        applying = [r for r in rules if _applies(r, starter)]
        mine = [g for need in NEEDS if (g := _gap(starter, base, need, applying))]
        if mine:
            gaps += mine
            grants.append(_grant(collection, base, starter, applying))
    if not gaps:
        return AccessReport(collection, base, "ok", name=name)
    return AccessReport(
        collection, base, "missing", gaps=tuple(gaps), grants=tuple(map(tuple, grants)), name=name
    )


def _read(call: Callable[[], Any]) -> tuple[dict[str, Any] | None, Exception | None]:
    """The response document, or None and what went wrong; only Globus errors are caught."""
    import globus_sdk
    from globus_sdk.token_storage import TokenValidationError

    try:
        return dict(call().data), None
    except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError, TokenValidationError) as exc:
        return None, exc


def _forbidden(exc: Exception | None) -> bool:
    # After a 403 the PI is told what to ask an administrator for; after
    # other failures (no such collection, no network) the grant is moot.
    import globus_sdk

    return isinstance(exc, globus_sdk.GlobusAPIError) and exc.http_status == 403


def _refusal(exc: Exception | None, collection: str, base: str, doing: str) -> str:
    import globus_sdk

    if isinstance(exc, globus_sdk.GlobusAPIError):
        said = exc.message or exc.http_reason or "no details"
        detail = (
            f"{exc.http_status} {exc.code}: {said}" if exc.code else f"{exc.http_status}: {said}"
        )
        if exc.http_status == 404:
            return (
                f"Transfer knows no collection {collection} ({detail}); check 'collection' in the "
                "instance config (the HPC collection's UUID, on its page under app.globus.org > "
                "Collections): runs cannot reach the HPC until it is right"
            )
        if exc.http_status == 403 and doing.startswith("list"):
            return (
                f"you are not an administrator or access manager of collection {collection}, so "
                f"its permissions cannot be read ({detail}); ask one of them to make sure every "
                f"starter may read and write {base}"
            )
        return f"Transfer refused to {doing} collection {collection} ({detail})"
    if isinstance(exc, globus_sdk.NetworkError):
        return f"Transfer could not be reached ({exc}); deploy again later to check"
    return (
        "your Globus login does not include Transfer yet (logins made before flowgen checked "
        "access lack it): run 'flowgen login' once more, then deploy again to check"
    )


def _no_acls(endpoint: Mapping[str, Any], collection: str, base: str) -> str:
    kind = str(endpoint.get("entity_type") or "collection")
    folders = ", ".join(need.folder for need in NEEDS)
    return (
        f"collection {collection} is a {kind}, where Globus permission rules (ACLs) do not "
        f"apply: each member reaches {base} as their own account on the HPC, so that account "
        f"needs Unix read and write permission on {folders} there (for example through a "
        "shared Unix group), which Transfer cannot check. A guest collection on the base path, "
        "shared with the Starter group, is the usual set-up: put its id in the instance config "
        "and deploy again to have it checked"
    )


def _applies(rule: Mapping[str, Any], starter: Starter) -> bool:
    kind = rule.get("principal_type")
    if kind in _EVERYBODY:
        return True
    return kind == starter.principal_type and str(rule.get("principal", "")).lower() == (
        starter.principal
    )


def _covers(rule: Mapping[str, Any], path: str) -> bool:
    # A rule applies to its path and everything below it; ACL paths are
    # directories written with a final "/", so "/p/flowcron2/" never covers
    # "/p/flowcron/".
    rule_path = str(rule.get("path") or "")
    if not rule_path.endswith("/"):
        rule_path += "/"
    return path.startswith(rule_path)


def _gap(starter: Starter, base: str, need: Need, rules: Sequence[Mapping[str, Any]]) -> Gap | None:
    path = base + need.folder
    granted = {
        letter for r in rules if _covers(r, path) for letter in str(r.get("permissions", ""))
    }
    if set(need.permissions) <= granted:
        return None
    has = "".join(letter for letter in "rw" if letter in granted)
    return Gap(starter, path, need.permissions, has, need.purpose)


def _create(collection: str, base: str, starter: Starter) -> list[str]:
    return [
        "globus", "endpoint", "permission", "create", f"{collection}:{base}",
        "--permissions", "rw", *starter.grant_flags(),
    ]  # fmt: skip


def _grant(
    collection: str, base: str, starter: Starter, rules: Sequence[Mapping[str, Any]]
) -> list[str]:
    # Transfer refuses a second rule for the same principal and path, so a
    # read-only rule of this starter on the base path is upgraded instead.
    # (``rules`` apply to this starter: same principal, or everybody.)
    for rule in rules:
        if (
            rule.get("principal_type") == starter.principal_type
            and str(rule.get("path") or "").rstrip("/") + "/" == base
            and rule.get("id")
        ):
            return [
                "globus", "endpoint", "permission", "update", collection, str(rule["id"]),
                "--permissions", "rw",
            ]  # fmt: skip
    return _create(collection, base, starter)
