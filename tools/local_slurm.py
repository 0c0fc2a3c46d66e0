"""A private one-node Slurm cluster on this machine, for the sweep test and benchmark.

Debian's munge, slurmctld and slurmd (apt-get install munge slurmctld slurmd slurm-client), with
their own munge key, slurm.conf, sockets, state and logs under one folder, on free ports, no
accounting database. `cluster(folder, cpus)` starts it and yields the environment its clients
(sbatch, squeue, scontrol) need; on leaving, it stops exactly the daemons it started (their pid
files), nothing else.
"""
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")


def missing():
    """The programs of the cluster that are not installed (looked for on PATH and in /usr/sbin)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return [d for d in DAEMONS if shutil.which(d, path=path) is None]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONF = """ClusterName=local
SlurmctldHost={host}(127.0.0.1)
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={d}/munge/socket
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _wait(what, ok, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ok():
            return
        time.sleep(0.2)
    raise RuntimeError(f"local Slurm: {what} did not come up within {timeout} s")


def _stop(pidfile):
    try:
        pid = int(Path(pidfile).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def cluster(folder, cpus=2):
    """Start munged, slurmctld and slurmd under `folder` (one node of `cpus` CPUs); yield the
    environment (os.environ with SLURM_CONF) for the clients; stop the three daemons after."""
    d = Path(folder).resolve()
    for sub in ("munge", "state", "spool"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(d / "munge", 0o711)  # munged wants its socket's folder searchable by everyone
    sbin = lambda name: shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    host = socket.gethostname().split(".")[0]
    conf = d / "slurm.conf"
    conf.write_text(CONF.format(host=host, user=getpass.getuser(), ctld_port=_free_port(), d_port=_free_port(), d=d, cpus=cpus))
    env = os.environ | {"SLURM_CONF": str(conf)}
    key = d / "munge" / "munge.key"
    started = []
    try:
        key.unlink(missing_ok=True)
        subprocess.run([sbin("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        os.chmod(key, 0o600)
        subprocess.run([sbin("munged"), "--force", f"--key-file={key}", f"--socket={d}/munge/socket",
                        f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/munge/munged.log",
                        f"--seed-file={d}/munge/seed"], check=True, capture_output=True)
        started.append(d / "munge" / "munged.pid")
        started.append(d / "slurmctld.pid")
        subprocess.run([sbin("slurmctld"), "-f", str(conf)], check=True, capture_output=True, env=env)
        started.append(d / "slurmd.pid")
        subprocess.run([sbin("slurmd"), "-f", str(conf)], check=True, capture_output=True, env=env)
        idle = lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env).stdout
        _wait("the node", idle)
        yield env
    finally:
        if d / "slurmd.pid" in started:  # this cluster's own jobs, so that no job step outlives it
            subprocess.run(["scancel", "--full", "--partition=local"], capture_output=True, env=env)
            with contextlib.suppress(RuntimeError):
                _wait("the cancelled jobs' end", lambda: not subprocess.run(
                    ["squeue", "-h", "-t", "running,completing"], capture_output=True, text=True, env=env).stdout.strip(), 30)
        for pidfile in reversed(started):
            _stop(pidfile)
