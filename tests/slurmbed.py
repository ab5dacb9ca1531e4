"""A disposable single-node Slurm cluster for tests, built from Debian's packages.

Everything lives in one temporary directory: a private munged (own key and
socket), slurmctld and slurmd with their own ``slurm.conf`` (found by clients
through ``SLURM_CONF``), and, for the accounting variant, a private MariaDB and
slurmdbd. Ports are chosen free at start-up and the cluster name is unique, so
several clusters (other test sessions on the same machine, or both variants in
one session) never clash. No systemd: every daemon runs in the foreground as
our child, and :meth:`SlurmCluster.stop` ends them all (SIGTERM, then SIGKILL),
also after a failed start.

Usable without pytest::

    with SlurmCluster(Path("/tmp/bed"), accounting=True) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env={**os.environ, **cluster.env})
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

INSTALL_HINT = "apt-get install slurm-wlm munge slurmdbd mariadb-server"

CORE_BINARIES = (
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "scancel",
    "sinfo",
)
ACCOUNTING_BINARIES = ("slurmdbd", "mariadbd", "mariadb-install-db", "mariadb", "sacctmgr", "sacct")

# Daemons live in sbin, which a non-login shell's PATH may lack.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
)

TEST_ACCOUNT = "flowcron-test"
TEST_QOS = "normal"

START_TIMEOUT = 60.0
"""Seconds any one daemon may take to become ready before the start fails."""

MIN_JOB_AGE = 60
"""Seconds a finished job stays visible to ``scontrol``/``squeue`` (Slurm's default is 300).

Without accounting this is the only window in which the agent can learn a
job's outcome. 60 s is ample for tests, which poll right after a job ends, and
short enough that a test of "Slurm forgot the job" waits about two minutes
(slurmctld purges old jobs on its own periodic timer) instead of six.
"""

KILL_WAIT = 2
"""Seconds between SIGTERM and SIGKILL for a job over its time limit (default 30)."""

MESSAGE_TIMEOUT = 5
"""Slurm's MessageTimeout (default 10): clients give up on a stopped controller after
about this long, which keeps "controller down" tests short."""


class SlurmBedError(RuntimeError):
    """The test cluster could not be started; the message carries the daemon log tails."""


def find_binary(name: str) -> str | None:
    """The absolute path of a Slurm/MUNGE/MariaDB program, also looking in sbin."""
    return shutil.which(name, path=_SEARCH_PATH)


def missing_binaries(*, accounting: bool) -> list[str]:
    """Programs this machine lacks for a cluster of the given kind."""
    wanted = CORE_BINARIES + (ACCOUNTING_BINARIES if accounting else ())
    return [name for name in wanted if find_binary(name) is None]


def require_slurm(*, accounting: bool) -> None:
    """Skip the calling test when Slurm is not installed, or fail it when ``CI=true``.

    CI installs the packages (``.ci/run``), so a missing Slurm there is a broken
    set-up to report, not a reason to pass quietly.
    """
    import pytest

    missing = missing_binaries(accounting=accounting)
    if not missing:
        return
    message = (
        f"real-Slurm test needs {', '.join(missing)}, which this machine lacks; "
        f"install with: {INSTALL_HINT}"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing Slurm is a failure here, not a skip)")
    pytest.skip(message)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now.

    All sockets are held open together so the kernel cannot hand out the same
    port twice; the small window before a daemon binds is accepted.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def _memory_mb() -> int:
    """A RealMemory the node surely has: half the machine, at most 4 GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return max(256, min(int(line.split()[1]) // 1024 // 2, 4096))
    except (OSError, ValueError, IndexError):
        pass
    return 1024


class _Daemon:
    """One foreground daemon process with its log and pid file."""

    def __init__(self, name: str, argv: list[str], log: Path, pid_file: Path | None) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.pid_file = pid_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _pids(self) -> list[int]:
        pids = []
        if self.proc is not None and self.proc.poll() is None:
            pids.append(self.proc.pid)
        if self.pid_file is not None:
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pid_file.read_text().split()[0])
                if pid not in pids and pid > 1:
                    pids.append(pid)
        return pids

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM by the known pids (ours and the pid file's), then SIGKILL after ``grace``."""
        pids = self._pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_pid_alive(pid, self.proc) for pid in pids):
            time.sleep(0.05)
        for pid in pids:
            if _pid_alive(pid, self.proc):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self.proc = None
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)


def _pid_alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None and proc.pid == pid:
        # Our own child: poll() reaps it, so a zombie does not count as alive.
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SlurmCluster:
    """A private single-node Slurm cluster in ``root`` (created if missing).

    ``accounting=True`` adds MariaDB + slurmdbd, an account :data:`TEST_ACCOUNT`
    with the current user associated and QoS :data:`TEST_QOS`, and enforces
    associations so a bad account is refused at submission, as on real sites.

    ``nodes=2`` (or more) runs one slurmd per node on this host, each with
    ``cpus`` CPUs: Slurm's backfill scheduler, the only one that starts
    heterogeneous jobs, never puts two components on one node at once.
    ``scheduler_parameters`` is written as ``SchedulerParameters`` (for
    example ``bf_interval=1`` so such jobs start within seconds).
    """

    def __init__(
        self,
        root: Path,
        *,
        accounting: bool,
        cpus: int | None = None,
        min_job_age: int = MIN_JOB_AGE,
        kill_wait: int = KILL_WAIT,
        message_timeout: int = MESSAGE_TIMEOUT,
        nodes: int = 1,
        scheduler_parameters: str | None = None,
    ) -> None:
        self.nodes = nodes
        self.scheduler_parameters = scheduler_parameters
        self.root = root.resolve()
        self.accounting = accounting
        self.cpus = cpus or os.cpu_count() or 1
        self.min_job_age = min_job_age
        self.kill_wait = kill_wait
        self.message_timeout = message_timeout
        self.cluster_name = "fc" + secrets.token_hex(4)
        self.node_name = socket.gethostname().split(".")[0]
        self.partition = "debug"
        self.account: str | None = TEST_ACCOUNT if accounting else None
        self.qos: str | None = TEST_QOS if accounting else None
        self.conf_path = self.root / "slurm.conf"
        self.user = _user_name()
        self._daemons: dict[str, _Daemon] = {}
        self._db_password = secrets.token_hex(12)
        self._started = False
        self._last_output = ""

    # -- public API -------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Environment variables clients (sbatch, sacct, ...) need to reach this cluster."""
        return {
            "SLURM_CONF": str(self.conf_path),
            "PATH": _SEARCH_PATH,
        }

    def start(self) -> None:
        """Start every daemon and wait until the node is idle; stop everything on failure."""
        if self._started:
            return
        self._started = True
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel remaining jobs, then stop every daemon (idempotent)."""
        ctld = self._daemons.get("slurmctld")
        if ctld is not None and ctld.alive():
            # Jobs still running would outlive slurmd as orphaned slurmstepd processes.
            self.run(["scancel", "--user", self.user], check=False, timeout=10)
            self._wait(lambda: not self._jobs_left(), 10, "jobs to end", strict=False)
        slurmds = [name for name in self._daemons if name.startswith("slurmd-")]
        for name in ("slurmd", *slurmds, "slurmctld", "slurmdbd", "mariadbd", "munged"):
            daemon = self._daemons.get(name)
            if daemon is not None:
                daemon.stop()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def stop_controller(self) -> None:
        """Stop slurmctld only (for "controller down" tests); jobs keep their state."""
        self._daemons["slurmctld"].stop()

    def start_controller(self) -> None:
        """Start slurmctld again after :meth:`stop_controller` and wait until it answers."""
        self._daemons["slurmctld"].start(self._daemon_env())
        self._wait(self._controller_up, START_TIMEOUT, "slurmctld to answer", "slurmctld")
        self._wait(self._node_idle, START_TIMEOUT, "the node to be idle", "slurmd")

    def kill_controller(self) -> None:
        """SIGKILL slurmctld at once, as a crash would: what it had not saved yet is lost.

        slurmctld writes its job state to ``StateSaveLocation`` a moment after
        each change, so jobs it accepted just before are gone when it starts
        again, and their ids are handed out anew. Start it with
        :meth:`start_controller` (or :meth:`restart_controller`).
        """
        daemon = self._daemons["slurmctld"]
        for pid in daemon._pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if daemon.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.proc.wait(timeout=10)
        daemon.proc = None
        if daemon.pid_file is not None:
            daemon.pid_file.unlink(missing_ok=True)

    def wipe_controller_state(self) -> None:
        """Empty ``StateSaveLocation`` (slurmctld must be stopped): it forgets every job.

        Job ids then start again at ``FirstJobId`` (1), so new jobs get the ids
        of jobs that ran before, which slurmdbd still lists.
        """
        if self._daemons["slurmctld"].alive():
            raise SlurmBedError("wipe_controller_state: stop or kill slurmctld first")
        state = self.root / "state"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()

    def restart_controller(
        self, *, kill: bool = True, wipe_state: bool = False, wait_for_nodes: bool = True
    ) -> None:
        """Kill (or stop) slurmctld, optionally wipe its state, and start it again.

        ``kill=True`` is a crash (SIGKILL, unsaved jobs lost); ``wipe_state``
        also loses the saved ones (a controller restored without its state
        directory). Returns once the controller answers and, with
        ``wait_for_nodes``, the nodes are back (slurmd registers again about
        four seconds later; jobs submitted meanwhile wait for it).
        """
        if kill:
            self.kill_controller()
        else:
            self.stop_controller()
        if wipe_state:
            self.wipe_controller_state()
        if wait_for_nodes:
            self.start_controller()
            return
        self._daemons["slurmctld"].start(self._daemon_env())
        self._wait(self._controller_up, START_TIMEOUT, "slurmctld to answer", "slurmctld")

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a client command against this cluster; raise with its output when ``check``."""
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=timeout,
            check=False,
        )
        self._last_output = (
            f"{' '.join(argv)} -> exit {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[-1000:]}"
        )
        if check and result.returncode != 0:
            raise SlurmBedError(
                f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def wait_for_state(self, job_id: str, states: set[str], timeout: float = 120) -> str:
        """Poll ``scontrol`` until the job's state is one of ``states``; return it."""
        seen = ""

        def reached() -> bool:
            nonlocal seen
            out = self.run(["scontrol", "show", "job", "-o", job_id], check=False).stdout
            for part in out.split():
                if part.startswith("JobState="):
                    seen = part.split("=", 1)[1]
            return seen in states

        self._wait(reached, timeout, f"job {job_id} to reach {sorted(states)} (last: {seen})")
        return seen

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start-up ---------------------------------------------------------

    def _start(self) -> None:
        missing = missing_binaries(accounting=self.accounting)
        if missing:
            raise SlurmBedError(f"missing programs {missing}; install with: {INSTALL_HINT}")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(exist_ok=True)
        (self.root / "munge").chmod(0o700)
        ports = free_ports(4 + (self.nodes if self.nodes > 1 else 0))
        self.ctld_port, self.slurmd_port, self.dbd_port, self.db_port = ports[:4]
        self.node_ports = ports[4:]

        self._start_munge()
        if self.accounting:
            self._start_mariadb()
        self._write_slurm_conf()
        if self.accounting:
            self._start_slurmdbd()
            self._register_accounts()
        self._spawn(
            "slurmctld",
            [_bin("slurmctld"), "-D", "-i", "-f", str(self.conf_path)],
            self.root / "slurmctld.pid",
        )
        self._wait(self._controller_up, START_TIMEOUT, "slurmctld to answer", "slurmctld")
        if self.nodes > 1:
            for name in self.node_names:
                self._spawn(
                    f"slurmd-{name}",
                    [_bin("slurmd"), "-D", "-N", name, "-f", str(self.conf_path)],
                    self.root / f"slurmd-{name}.pid",
                )
        else:
            self._spawn(
                "slurmd",
                [_bin("slurmd"), "-D", "-f", str(self.conf_path)],
                self.root / "slurmd.pid",
            )
        self._wait(self._node_idle, START_TIMEOUT, "the node to be idle", "slurmd")

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        self.munge_socket = self.root / "munge" / "munge.socket"
        self._spawn(
            "munged",
            [
                _bin("munged"),
                "-F",
                "--force",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                f"--log-file={self.root / 'munge' / 'munged.log'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            ],
            self.root / "munge" / "munged.pid",
        )
        self._wait(self.munge_socket.exists, START_TIMEOUT, "munged's socket", "munged")

    def _start_mariadb(self) -> None:
        datadir = self.root / "mariadb"
        self.db_socket = self.root / "mariadb.sock"
        install = subprocess.run(
            [
                _bin("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if install.returncode != 0:
            raise SlurmBedError(
                f"mariadb-install-db failed ({install.returncode}):\n{install.stderr[-2000:]}"
            )
        self._spawn(
            "mariadbd",
            [
                _bin("mariadbd"),
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={self.db_socket}",
                f"--port={self.db_port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.root / 'mariadbd.pid'}",
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                # slurmdbd wants a bigger lock wait than the default on slow disks.
                "--innodb-lock-wait-timeout=900",
            ],
            self.root / "mariadbd.pid",
        )
        self._wait(
            lambda: self._sql("SELECT 1").returncode == 0,
            START_TIMEOUT,
            "MariaDB to accept connections",
            "mariadbd",
        )
        created = self._sql(
            f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{self._db_password}';"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        )
        if created.returncode != 0:
            raise SlurmBedError(f"creating the slurmdbd database user failed: {created.stderr}")

    def _sql(self, statement: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                _bin("mariadb"),
                "--no-defaults",
                f"--socket={self.db_socket}",
                "-u",
                "root",
                "-e",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def _start_slurmdbd(self) -> None:
        conf = self.root / "slurmdbd.conf"
        conf.write_text(
            "\n".join(
                [
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={self.munge_socket}",
                    "DbdHost=localhost",
                    "DbdAddr=127.0.0.1",
                    f"DbdPort={self.dbd_port}",
                    "SlurmUser=root",
                    f"LogFile={self.root / 'slurmdbd.log'}",
                    f"PidFile={self.root / 'slurmdbd.pid'}",
                    "StorageType=accounting_storage/mysql",
                    "StorageHost=127.0.0.1",
                    f"StoragePort={self.db_port}",
                    "StorageUser=slurm",
                    f"StoragePass={self._db_password}",
                    "StorageLoc=slurm_acct_db",
                    "",
                ]
            )
        )
        conf.chmod(0o600)
        self._spawn("slurmdbd", [_bin("slurmdbd"), "-D"], self.root / "slurmdbd.pid")
        self._wait(
            lambda: self.run(["sacctmgr", "-n", "show", "cluster"], check=False).returncode == 0,
            START_TIMEOUT,
            "slurmdbd to answer sacctmgr",
            "slurmdbd",
        )

    def _register_accounts(self) -> None:
        # Registered before slurmctld first starts, so no controller restart is needed.
        self.run(["sacctmgr", "-i", "add", "cluster", self.cluster_name])
        self.run(
            [
                "sacctmgr",
                "-i",
                "add",
                "account",
                TEST_ACCOUNT,
                f"Cluster={self.cluster_name}",
                "Description=FlowCron tests",
                "Organization=flowcron",
            ]
        )
        self.run(
            [
                "sacctmgr",
                "-i",
                "add",
                "user",
                self.user,
                f"Account={TEST_ACCOUNT}",
                f"Cluster={self.cluster_name}",
                f"QOS={TEST_QOS}",
                f"DefaultQOS={TEST_QOS}",
            ]
        )

    def _write_slurm_conf(self) -> None:
        lines = [
            f"ClusterName={self.cluster_name}",
            f"SlurmctldHost={self.node_name}(127.0.0.1)",
            f"SlurmctldPort={self.ctld_port}",
            f"SlurmdPort={self.slurmd_port}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SchedulerType=sched/backfill",
            f"MinJobAge={self.min_job_age}",
            f"KillWait={self.kill_wait}",
            "OverTimeLimit=0",
            f"MessageTimeout={self.message_timeout}",
            "InactiveLimit=0",
            "JobCompType=jobcomp/none",
        ]
        if self.accounting:
            lines += [
                "AccountingStorageType=accounting_storage/slurmdbd",
                "AccountingStorageHost=127.0.0.1",
                f"AccountingStoragePort={self.dbd_port}",
                # Slurm authenticates to slurmdbd through the munge socket named
                # here, not AuthInfo's: without it clients look for the system munged.
                f"AccountingStoragePass={self.munge_socket}",
                "AccountingStorageEnforce=associations,limits,qos",
                # sacct shows a job's --comment only when the site stores it
                # (FlowCron writes who started the run there).
                "AccountingStoreFlags=job_comment",
                "JobAcctGatherType=jobacct_gather/linux",
                "JobAcctGatherFrequency=30",
            ]
        else:
            lines += [
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
            ]
        if self.scheduler_parameters:
            lines.append(f"SchedulerParameters={self.scheduler_parameters}")
        if self.nodes > 1:
            per_node = ("SlurmdSpoolDir=", "SlurmdPidFile=", "SlurmdLogFile=")
            lines = [line for line in lines if not line.startswith(per_node)]
            lines += self._multi_node_lines()
            self.conf_path.write_text("\n".join(lines))
            return
        lines += [
            f"NodeName={self.node_name} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={_memory_mb()} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node_name} Default=YES "
            "MaxTime=INFINITE State=UP",
            "",
        ]
        self.conf_path.write_text("\n".join(lines))

    @property
    def node_names(self) -> list[str]:
        """The Slurm node names: this host's short name, or ``<host>-1``... with several nodes."""
        if self.nodes <= 1:
            return [self.node_name]
        return [f"{self.node_name}-{number}" for number in range(1, self.nodes + 1)]

    def _multi_node_lines(self) -> list[str]:
        # Several slurmd on one host: each its own port, spool, pid and log file
        # (%n is the node name), all reached at 127.0.0.1 on this host.
        memory = max(256, _memory_mb() // self.nodes)
        lines = [
            f"SlurmdSpoolDir={self.root / 'spool'}/%n",
            f"SlurmdPidFile={self.root}/slurmd-%n.pid",
            f"SlurmdLogFile={self.root}/slurmd-%n.log",
        ]
        for name, port in zip(self.node_names, self.node_ports, strict=True):
            lines.append(
                f"NodeName={name} NodeHostname={self.node_name} NodeAddr=127.0.0.1 "
                f"Port={port} CPUs={self.cpus} RealMemory={memory} State=UNKNOWN"
            )
        lines += [
            f"PartitionName={self.partition} Nodes={','.join(self.node_names)} Default=YES "
            "MaxTime=INFINITE State=UP",
            "",
        ]
        return lines

    # -- helpers ----------------------------------------------------------

    def _daemon_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _spawn(self, name: str, argv: list[str], pid_file: Path) -> None:
        daemon = _Daemon(name, argv, self.root / f"{name}.out", pid_file)
        self._daemons[name] = daemon
        daemon.start(self._daemon_env())

    def _controller_up(self) -> bool:
        out = self.run(["scontrol", "ping"], check=False, timeout=10).stdout
        return "is UP" in out

    def _node_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False, timeout=10).stdout
        states = [line.strip().rstrip("*") for line in out.splitlines() if line.strip()]
        return len(states) == self.nodes and all(
            state in {"idle", "mixed", "allocated"} for state in states
        )

    def _jobs_left(self) -> bool:
        out = self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=10).stdout
        return bool(out.strip())

    def _wait(
        self,
        ready: Callable[[], bool],
        timeout: float,
        what: str,
        daemon: str | None = None,
        *,
        strict: bool = True,
    ) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            proc = self._daemons.get(daemon) if daemon else None
            died = proc is not None and not proc.alive()
            if died or time.monotonic() > deadline:
                if not strict:
                    return
                raise SlurmBedError(self._failure_message(what, daemon, died, timeout))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _failure_message(self, what: str, daemon: str | None, died: bool, timeout: float) -> str:
        why = f"{daemon} exited" if died else f"gave up after {timeout:.0f} s"
        parts = [f"test cluster in {self.root}: waiting for {what}: {why}."]
        if self._last_output:
            parts.append(f"last command: {self._last_output}")
        logs = {
            "munged": [self.root / "munge" / "munged.log", self.root / "munged.out"],
            "mariadbd": [self.root / "mariadbd.out"],
            "slurmdbd": [self.root / "slurmdbd.log", self.root / "slurmdbd.out"],
            "slurmctld": [self.root / "slurmctld.log", self.root / "slurmctld.out"],
            "slurmd": [self.root / "slurmd.log", self.root / "slurmd.out"],
        }
        for path in logs.get(daemon or "", []) or [p for ps in logs.values() for p in ps]:
            if path.exists():
                parts.append(f"--- tail of {path}:\n{_tail(path)}")
        return "\n".join(parts)


def _bin(name: str) -> str:
    path = find_binary(name)
    if path is None:
        raise SlurmBedError(f"{name} is not installed; install with: {INSTALL_HINT}")
    return path


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


if __name__ == "__main__":  # pragma: no cover - manual smoke test
    import sys
    import tempfile

    with SlurmCluster(
        Path(tempfile.mkdtemp(prefix="slurmbed-")), accounting="--acct" in sys.argv
    ) as bed:
        started = time.monotonic()
        print("up:", bed.root, bed.env)
        print(bed.run(["sinfo"]).stdout)
        if "--shell" in sys.argv:
            subprocess.run(["bash"], env={**os.environ, **bed.env}, check=False)
