"""Run the agent on a schedule: a marked block in the user's crontab (or scrontab).

The agent owns only the lines between ``# BEGIN flowcron:<name>`` and
``# END flowcron:<name>``; everything else in the table is kept byte for
byte. Before each change the previous table is saved to
``~/.config/flowcron/crontab.backup-<time>``. The table is read and written
only through ``crontab -l`` / ``crontab FILE`` (or ``scrontab``), as argument
lists, never through a shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, registry_dir
from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode
from hpc_agent.invocation import agent_command

CRON_OUT = "cron.out"
"""The file in ``Logs/`` that collects the scheduled command's own output."""
TIMEOUT_SECONDS = 30


class ScheduleError(AgentError):
    """The schedule could not be read or changed; the message says why (exit code 1)."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Table:
    """A crontab-like table: the command that manages it and its current text."""

    tool: str
    text: str


def begin_marker(name: str) -> str:
    """The first line of instance ``name``'s block."""
    return f"# BEGIN flowcron:{name}"


def end_marker(name: str) -> str:
    """The last line of instance ``name``'s block."""
    return f"# END flowcron:{name}"


def cron_spec(every_minutes: int) -> str:
    """The five cron time fields for "every N minutes".

    Minutes must divide an hour, or be whole hours dividing a day, so the
    interval is even (``*/7`` would run at :56 and again at :00).
    """
    if every_minutes == 1:
        return "* * * * *"
    if every_minutes < 60 and 60 % every_minutes == 0:
        return f"*/{every_minutes} * * * *"
    if every_minutes % 60 == 0 and 1440 % every_minutes == 0:
        hours = every_minutes // 60
        return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"
    raise ScheduleError(
        f"every {every_minutes} minutes cannot be scheduled evenly by cron; use a number "
        "that divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or a whole number of hours "
        "that divides 24 (60, 120, 180, 240, 360, 480, 720, 1440)"
    )


def command_line(cfg: InstanceConfig, *, interpreter: str | None = None) -> str:
    """The shell command cron runs for one tick (every value quoted)."""
    agent = agent_command("tick", str(cfg.base_dir), python=interpreter)
    sbatch = shutil.which("sbatch")
    path_dirs = [str(Path(sbatch).parent)] if sbatch else []
    path_dirs += [d for d in ("/usr/bin", "/bin") if d not in path_dirs]
    env = [f"PATH={':'.join(path_dirs)}"]
    if os.environ.get("SLURM_CONF"):
        env.append(f"SLURM_CONF={os.environ['SLURM_CONF']}")
    if agent.pythonpath is not None:
        env.append(f"PYTHONPATH={agent.pythonpath}")
    out = cfg.path(protocol.LOGS) / CRON_OUT
    parts = [shlex.quote(item) for item in (*env, *agent.argv)]
    return " ".join(parts) + f" >> {shlex.quote(str(out))} 2>&1"


def render_block(cfg: InstanceConfig, *, interpreter: str | None = None) -> str:
    """The instance's whole block, markers included, ending with a newline."""
    lines = [
        begin_marker(cfg.name),
        f"# Managed by hpc-agent: change with `hpc-agent schedule install|remove {cfg.name}`.",
    ]
    if cfg.schedule == "scrontab":
        # scrontab entries run as Slurm jobs: give them the instance's account and QoS.
        options = ["--time=00:10:00", f"--job-name=flowcron-{cfg.name}-tick"]
        if cfg.account:
            options.append(f"--account={cfg.account}")
        if cfg.qos:
            options.append(f"--qos={cfg.qos}")
        lines.append("#SCRON " + " ".join(options))
    command = command_line(cfg, interpreter=interpreter)
    if cfg.schedule == "cron":
        # cron turns an unescaped % into a newline (the rest becomes stdin), so a
        # % in a path would cut the command short; cron removes the backslash.
        command = command.replace("%", "\\%")
    lines.append(f"{cron_spec(cfg.every_minutes)} {command}")
    lines.append(end_marker(cfg.name))
    return "\n".join(lines) + "\n"


def find_block(text: str, name: str) -> tuple[int, int] | None:
    """Line indexes (begin, end inclusive) of ``name``'s block, or None when absent."""
    lines = text.splitlines()
    begin = end = None
    for index, line in enumerate(lines):
        if line.strip() == begin_marker(name) and begin is None:
            begin = index
        elif line.strip() == end_marker(name) and begin is not None:
            end = index
            break
    if begin is None:
        return None
    if end is None:
        raise ScheduleError(
            f"the table has '{begin_marker(name)}' but no '{end_marker(name)}'; "
            "fix the table by hand (crontab -e) and try again"
        )
    return begin, end


def without_block(text: str, name: str) -> str:
    """``text`` with ``name``'s block removed (other lines untouched)."""
    span = find_block(text, name)
    if span is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[: span[0]] + lines[span[1] + 1 :])


def with_block(text: str, block: str, name: str) -> str:
    """``text`` with ``name``'s block replaced by ``block`` (in place, or appended)."""
    span = find_block(text, name)
    lines = text.splitlines(keepends=True)
    if span is not None:
        return "".join([*lines[: span[0]], block, *lines[span[1] + 1 :]])
    if text and not text.endswith("\n"):
        text += "\n"
    return text + block


def current_block(text: str, name: str) -> str | None:
    """The text of ``name``'s block in ``text``, or None."""
    span = find_block(text, name)
    if span is None:
        return None
    return "\n".join(text.splitlines()[span[0] : span[1] + 1]) + "\n"


def block_interpreter(block: str) -> str | None:
    """The interpreter path a block's command runs (the first word after VAR=value words)."""
    for words in _command_lines(block):
        if words is None:
            return None
        for word in words[5:]:
            if "=" in word and not word.startswith("/"):
                continue
            return word
    return None


def _command_lines(block: str) -> Iterator[list[str] | None]:
    """The words of each command line of a block (not comments or blank lines).

    None for a line that cannot be split as a shell line (an unmatched quote):
    such a block was not written by FlowCron, so nothing in it is trusted.
    """
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            yield shlex.split(line)
        except ValueError:
            yield None


def tool_for(schedule: str) -> str:
    """The table command for a schedule kind (``cron`` or ``scrontab``)."""
    if schedule == "cron":
        return "crontab"
    if schedule == "scrontab":
        return "scrontab"
    raise ScheduleError(
        f"schedule {schedule!r} has no table to manage; with 'none' run "
        "`hpc-agent run --every SECONDS` yourself (e.g. in tmux or screen)"
    )


def read_table(tool: str) -> Table:
    """The current table (empty when the user has none)."""
    result = _run([tool, "-l"])
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        # crontab and scrontab both say "no crontab for <user>" for an empty table.
        if "no crontab" in message.lower() or "no scrontab" in message.lower():
            return Table(tool, "")
        raise ScheduleError(f"`{tool} -l` failed: {message or f'exit {result.returncode}'}")
    return Table(tool, result.stdout)


def write_table(tool: str, text: str) -> None:
    """Replace the user's table with ``text`` through ``<tool> FILE``."""
    with tempfile.NamedTemporaryFile("w", prefix="flowcron-", suffix=".tab", delete=False) as f:
        f.write(text)
        temp = Path(f.name)
    try:
        result = _run([tool, str(temp)])
    finally:
        temp.unlink(missing_ok=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise ScheduleError(f"`{tool} FILE` refused the new table: {message}")


def backup_table(table: Table, *, now: float | None = None) -> Path:
    """Save ``table`` under ``~/.config/flowcron/<tool>.backup-<UTC time>``; returns the path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    directory = registry_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{table.tool}.backup-{stamp}"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{table.tool}.backup-{stamp}-{counter}"
    path.write_text(table.text)
    return path


@dataclass(frozen=True)
class Change:
    """A planned change of the table: before and after."""

    tool: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        """Whether applying it would change anything."""
        return self.before != self.after


def plan_install(cfg: InstanceConfig, *, interpreter: str | None = None) -> Change:
    """The change that installs (or updates) the instance's block."""
    tool = tool_for(cfg.schedule)
    table = read_table(tool)
    block = render_block(cfg, interpreter=interpreter)
    return Change(tool, table.text, with_block(table.text, block, cfg.name))


def plan_remove(cfg: InstanceConfig, tool: str | None = None) -> Change:
    """The change that removes the instance's block.

    Only a block whose command ticks ``cfg.base_dir`` is removed: a block of
    the same name for an instance elsewhere (a live successor of an old base)
    raises ScheduleError naming both places, and the table stays as it is.
    """
    tool = tool or tool_for(cfg.schedule)
    table = read_table(tool)
    block = current_block(table.text, cfg.name)
    if block is not None:
        base = block_base(block)
        if base is None or not same_path(base, cfg.base_dir):
            raise ScheduleError(
                f"the {tool} entry named '{cfg.name}' runs the instance at "
                f"{base or 'an unrecognised command'}, not {cfg.base_dir}; it was left in place "
                f"(remove it with `hpc-agent schedule remove {base or cfg.name}` if it is stale)"
            )
    return Change(tool, table.text, without_block(table.text, cfg.name))


def block_base(block: str) -> Path | None:
    """The base directory a block's command ticks.

    The word after ``hpc_agent tick`` (``python -m hpc_agent``), or after
    ``ARCHIVE tick`` (the one-file agent, ``python hpc-agent.pyz``, under any
    name: :func:`hpc_agent.invocation.names_the_agent`).
    """
    from hpc_agent.invocation import names_the_agent

    for words in _command_lines(block):
        if words is None:
            return None
        for index in range(len(words) - 2):
            if words[index + 1] == "tick" and names_the_agent(words[index]):
                return Path(words[index + 2])
    return None


def same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same place (symlinks resolved where they exist)."""
    return os.path.realpath(a) == os.path.realpath(b)


def apply(change: Change) -> Path | None:
    """Back up the old table and write the new one; returns the backup (None: no change)."""
    if not change.changed:
        return None
    backup = backup_table(Table(change.tool, change.before))
    write_table(change.tool, change.after)
    return backup


def show(cfg: InstanceConfig, tool: str | None = None) -> str | None:
    """The instance's installed block, or None when it has none."""
    return current_block(read_table(tool or tool_for(cfg.schedule)).text, cfg.name)


def scrontab_available() -> bool:
    """Whether this site lets users keep a scrontab (``scrontab -l`` works)."""
    if shutil.which("scrontab") is None:
        return False
    try:
        read_table("scrontab")
    except ScheduleError:
        return False
    return True


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        raise ScheduleError(
            f"`{argv[0]}` is not installed or not on PATH; ask the site whether cron is "
            "available on this login node, or use --schedule none"
        )
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ScheduleError(f"`{' '.join(argv)}` did not answer in {TIMEOUT_SECONDS} s") from None
