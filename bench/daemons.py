"""Portcullis bench: the daemons under test and how each is run.

Portcullis from this tree; Postfix and OpenSMTPD installed, or extracted
from Debian's packages into the cache (never installed).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from procs import (IS_ROOT, Procs, dirsize_files, first_220, free_port, log,
                   pid_alive, run, tree, wait_for)

# ---- the competitors: packages and users ----------------------------------

def dpkg_installed(pkg):
    try:
        res = run(["dpkg-query", "-W", "-f=${Status} ${Version}", pkg], 20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode == 0 and res.stdout.startswith("install ok installed"):
        return res.stdout.split()[-1]
    return None


def extract(pkg, cache, download=True):
    """Debian's package, downloaded and extracted into the cache:
    (tree, version) or raises RuntimeError saying why not."""
    dest = os.path.join(cache, pkg)
    stamp = os.path.join(cache, pkg + ".version")
    if os.path.exists(stamp) and os.path.isdir(dest):
        with open(stamp) as f:
            return dest, f.read().strip()
    os.makedirs(cache, exist_ok=True)
    debs = sorted(f for f in os.listdir(cache)
                  if f.startswith(pkg + "_") and f.endswith(".deb"))
    if not debs and not download:
        raise RuntimeError(f"not installed, not in {cache}, and no "
                           "download allowed")
    if not debs:
        log(f"bench: apt-get download {pkg} (into {cache})")
        try:
            res = run(["apt-get", "download", pkg], 180, cwd=cache)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"apt-get download {pkg}: {e}")
        debs = sorted(f for f in os.listdir(cache)
                      if f.startswith(pkg + "_") and f.endswith(".deb"))
        if res.returncode != 0 or not debs:
            err = (res.stderr.strip().splitlines() or ["failed"])[-1]
            raise RuntimeError(f"apt-get download {pkg}: {err}")
    deb = os.path.join(cache, debs[-1])
    shutil.rmtree(dest, ignore_errors=True)
    res = run(["dpkg", "-x", deb, dest], 120)
    if res.returncode != 0:
        raise RuntimeError(f"dpkg -x {debs[-1]}: {res.stderr.strip()}")
    version = run(["dpkg-deb", "-f", deb, "Version"], 30).stdout.strip()
    with open(stamp, "w") as f:
        f.write(version + "\n")
    return dest, version


def ensure_user(user, group=None, home="/nonexistent"):
    """Create a system user (and its group) when root and missing."""
    if group:
        if run(["getent", "group", group], 10).returncode != 0:
            if not IS_ROOT:
                raise RuntimeError(f"group {group} missing (not root)")
            res = run(["groupadd", "--system", group], 30)
            if res.returncode != 0:
                raise RuntimeError(f"groupadd {group}: {res.stderr}")
    if user and run(["getent", "passwd", user], 10).returncode != 0:
        if not IS_ROOT:
            raise RuntimeError(f"user {user} missing (not root)")
        res = run(["useradd", "--system", "--no-create-home",
                   "--home-dir", home, "--shell", "/usr/sbin/nologin",
                   "--user-group", user], 30)
        if res.returncode != 0:
            raise RuntimeError(f"useradd {user}: {res.stderr}")


class Postfix:
    """Postfix's binaries: installed, or extracted from its package."""

    def __init__(self, cache, allow_download=True):
        self.root = None
        self.version = None
        self.reason = None
        installed = dpkg_installed("postfix")
        if installed:
            self.root, self.version = "/", installed
            self.how = "installed"
        else:
            try:
                self.root, self.version = extract("postfix", cache,
                                                  allow_download)
                self.how = "extracted"
            except RuntimeError as e:
                self.reason = str(e)

    def path(self, rel):
        return os.path.join(self.root, rel)

    @property
    def libdir(self):
        return self.path("usr/lib/postfix")

    def env(self):
        env = dict(os.environ)
        if self.root != "/":
            env["LD_LIBRARY_PATH"] = self.libdir
        return env

    def works(self, prog):
        try:
            res = run([self.path(prog)], 10, env=self.env())
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
        if "usage" in (res.stdout + res.stderr).lower():
            return None
        return (res.stderr.strip() or "does not run")[:200]


# ---- the daemons ----------------------------------------------------------

class Daemon:
    """What the bench needs of each MTA."""

    name = "?"
    label = "?"

    def __init__(self):
        self.proc = None
        self.reason = None      # why it cannot be run
        self.phase = "relay"
        self.sink = None

    # the port that the current phase's load goes to
    def port(self):
        return self.relay_port

    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """exec the daemon; returns the seconds from exec to a 220."""
        self.pre_start()
        t0 = time.monotonic()
        self.proc = self.spawn()
        t = first_220(self.first_port(), t0, 60)
        if t is None or not wait_for(self.ready, 60, 0.05):
            self.stop()
            raise RuntimeError(f"{self.name} did not start: see {self.logpath}")
        if self.phase == "accept":
            self.set_phase("accept")
        return t

    def first_port(self):
        return self.relay_port

    def stop(self):
        if self.proc is None:
            return
        pids = tree(self.proc.pid) if self.alive() else []
        Procs.stop(self.proc, timeout=30)
        for pid in pids:
            wait_for(lambda: not pid_alive(pid), 10)
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None

    def set_phase(self, phase):
        self.phase = phase

    def drain(self, timeout):
        """Wait until the queue is empty; True if it is."""
        return wait_for(lambda: self.queue_size() == 0, timeout, 0.05)

    def counters(self):
        return {}

    def spools(self):
        """The folders its queue lives in: removed when the bench ends,
        not when the next one starts (see bench/README)."""
        return []


class Portcullis(Daemon):
    name = "portcullis"
    label = "Portcullis"

    def __init__(self, args, workdir, sink_port, smtpd, smtpctl,
                 extra_conf="", tag=""):
        super().__init__()
        self.dir = os.path.join(workdir, "portcullis" + tag)
        os.makedirs(self.dir, exist_ok=True)
        self.smtpd, self.smtpctl = smtpd, smtpctl
        self.relay_port = free_port()
        self.sink_port = sink_port
        self.sock = os.path.join(self.dir, "smtpd.sock")
        self.spool = os.path.join(self.dir, "spool")
        self.conf = os.path.join(self.dir, "smtpd.conf")
        self.logpath = os.path.join(self.dir, "smtpd.log")
        with open(self.conf, "w") as f:
            f.write(f'spool "{self.spool}"\n'
                    f'control socket "{self.sock}"\n'
                    f"listen on 127.0.0.1 port {self.relay_port}\n"
                    "table loopback { 127.0.0.0/8, ::1 }\n"
                    "relay allow from <loopback>\n"
                    f"{extra_conf}"
                    'delivery "sink" {\n'
                    "    always\n"
                    f"    relay 127.0.0.1 port {sink_port}\n"
                    "}\n")
        res = run([self.smtpd, "-n", "-f", self.conf], 30)
        if res.returncode != 0:
            self.reason = f"smtpd -n: {res.stderr.strip()[:200]}"
        self.version = "this tree"

    def spawn(self):
        logf = open(self.logpath, "ab")
        p = Procs.spawn([self.smtpd, "-d", "-f", self.conf], stdout=logf,
                        stderr=subprocess.STDOUT)
        logf.close()
        return p

    def pre_start(self):
        pass

    def ctl(self, *args, json_out=False, timeout=30):
        cmd = [self.smtpctl, "-s", self.sock] + (["-j"] if json_out else [])
        try:
            return run(cmd + list(args), timeout)
        except subprocess.TimeoutExpired:
            return None

    def stats(self):
        res = self.ctl("show", "stats", json_out=True, timeout=30)
        if res is None or res.returncode != 0:
            return None
        try:
            return json.loads(res.stdout)
        except ValueError:
            return None

    def ready(self):
        res = self.ctl("show", "status", json_out=True, timeout=10)
        if res is None or res.returncode != 0:
            return False
        try:
            procs = json.loads(res.stdout)["processes"]
        except (ValueError, KeyError, TypeError):
            return False
        return bool(procs) and all(p.get("state") == "running"
                                   for p in procs)

    def set_phase(self, phase):
        self.phase = phase
        if self.alive():
            verb = "pause" if phase == "accept" else "resume"
            res = self.ctl(verb, "delivery")
            if res is None or (res.returncode != 0 and
                               "already" not in res.stdout + res.stderr):
                raise RuntimeError(f"smtpctl {verb} delivery failed: "
                                   f"{res and res.stdout + res.stderr}")

    def queue_size(self):
        st = self.stats()
        return None if st is None else st.get("queue.messages")

    def clear(self, timeout):
        if self.queue_size() == 0:
            return True
        self.ctl("remove", "all", timeout=120)
        return self.drain(timeout)

    def spools(self):
        return [self.spool]

    def counters(self):
        st = self.stats() or {}
        return {"store.syncs": st.get("store.syncs"),
                "store.commits": st.get("store.commits")}


class PostfixDaemon(Daemon):
    name = "postfix"

    def __init__(self, pf, workdir, sink_port):
        super().__init__()
        self.pf = pf
        self.label = f"Postfix {pf.version.split('-')[0]}"
        self.version = pf.version
        self.dir = os.path.join(workdir, "postfix")
        self.confdir = os.path.join(self.dir, "conf")
        os.makedirs(self.dir, exist_ok=True)
        self.queue = os.path.join(self.dir, "queue")
        self.logpath = os.path.join(self.dir, "maillog")
        self.accept_port = free_port()
        self.relay_port = free_port()
        try:
            self.setup(sink_port)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            self.reason = str(e)

    def setup(self, sink_port):
        # /etc/hosts answers its lookups of 127.0.0.1; a private
        # resolv.conf (when root) makes sure no query leaves anyway
        self.preexec = private_resolver(self.dir) if IS_ROOT else None
        ensure_user(None, "postdrop")
        ensure_user("postfix")
        pf = self.pf
        os.makedirs(self.confdir, exist_ok=True)
        os.makedirs(self.queue, exist_ok=True)
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        shutil.chown(data, "postfix")
        for src in ("etc/postfix/postfix-files",
                    "usr/share/postfix/dynamicmaps.cf"):
            if os.path.exists(pf.path(src)):
                shutil.copy(pf.path(src), self.confdir)
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write(f"""\
# written by the Portcullis bench; stock settings unless said
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
command_directory = {pf.path('usr/sbin')}
daemon_directory = {pf.path('usr/lib/postfix/sbin')}
shlib_directory = {pf.libdir}
meta_directory = {self.confdir}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
mydestination =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink_port}
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file = {self.logpath}
maillog_file_prefixes = {self.dir}
# one smtpd process per session: 1,000 idle sessions need 1,000
default_process_limit = 1100
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
    POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH={pf.libdir}
""")
        # the accept port holds every message (delivery paused); the
        # relay port relays to the sink
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(f"""\
{self.accept_port} inet n - n - - smtpd
  -o smtpd_client_restrictions=check_client_access,static:HOLD
{self.relay_port} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000    0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")
        # creates the queue's folders (warnings about set-gid bits of
        # the extracted postdrop/postqueue do not matter here)
        res = run([pf.path("usr/sbin/postfix"), "-c", self.confdir,
                   "check"], 120, env=pf.env())
        if not os.path.isdir(os.path.join(self.queue, "hold")):
            raise RuntimeError("postfix check failed: " +
                               (res.stderr.strip() or self.tail_log())[-200:])

    def tail_log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()[-300:]
        except OSError:
            return ""

    def spools(self):
        return [self.queue]

    def pre_start(self):
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)

    def spawn(self):
        out = open(os.path.join(self.dir, "master.out"), "ab")
        p = Procs.spawn([self.pf.path("usr/lib/postfix/sbin/master"),
                         "-c", self.confdir, "-d"], stdout=out,
                        stderr=subprocess.STDOUT, env=self.pf.env(),
                        preexec_fn=self.preexec)
        out.close()
        return p

    def first_port(self):
        return self.accept_port

    def ready(self):
        # master answers for both listeners and qmgr runs
        return (self.alive() and
                any("qmgr" in cmdline(p) for p in tree(self.proc.pid)))

    def port(self):
        return self.accept_port if self.phase == "accept" else \
            self.relay_port

    def queue_size(self):
        return sum(dirsize_files(os.path.join(self.queue, d))
                   for d in ("maildrop", "incoming", "active", "deferred",
                             "hold"))

    def clear(self, timeout):
        if self.queue_size() == 0:
            return True
        run([self.pf.path("usr/sbin/postsuper"), "-c", self.confdir, "-d",
             "ALL"], 120, env=self.pf.env())
        return self.drain(timeout)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


RESOLV_CONF = """\
# Portcullis bench: the competitors resolve from /etc/hosts only; no
# lookup leaves the machine (asr reads "lookup", glibc the nameserver)
nameserver 127.0.0.1
lookup file
"""


def private_resolver(workdir):
    """A preexec_fn that gives the child its own mount namespace with a
    loopback-only /etc/resolv.conf; None when that is impossible."""
    import ctypes
    path = os.path.join(workdir, "resolv.conf")
    with open(path, "w") as f:
        f.write(RESOLV_CONF)
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 4096, 16384, 1 << 18

    def child():
        if libc.unshare(CLONE_NEWNS) != 0:
            os._exit(121)
        # private first: nothing mounted here shows outside
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            os._exit(122)
        if libc.mount(path.encode(), b"/etc/resolv.conf", None, MS_BIND,
                      None) != 0:
            os._exit(123)

    # try it once
    try:
        res = subprocess.run(["cat", "/etc/resolv.conf"], preexec_fn=child,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0 or "lookup file" not in res.stdout:
        return None
    with open("/etc/resolv.conf") as f:
        if "lookup file" in f.read():
            raise RuntimeError("private /etc/resolv.conf leaked out")
    return child


class OpenSMTPD(Daemon):
    name = "opensmtpd"
    SPOOL = "/var/spool/smtpd"
    SOCK = "/var/run/smtpd.sock"

    def __init__(self, args, workdir, sink_port):
        super().__init__()
        self.label = "OpenSMTPD"
        self.version = None
        self.dir = os.path.join(workdir, "opensmtpd")
        os.makedirs(self.dir, exist_ok=True)
        self.logpath = os.path.join(self.dir, "smtpd.log")
        self.relay_port = free_port()
        self.marker = os.path.join(args.cache, "opensmtpd-spool-is-ours")
        try:
            self.setup(args, sink_port)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            self.reason = str(e)

    def setup(self, args, sink_port):
        if not IS_ROOT:
            raise RuntimeError("needs root")
        installed = dpkg_installed("opensmtpd")
        if installed:
            # its compiled-in spool and socket are those of the system's
            # service: leave them alone
            raise RuntimeError("installed system-wide: the bench does not "
                               "touch the service's /var/spool/smtpd")
        self.root, self.version = extract("opensmtpd", args.cache,
                                          not args.no_download)
        self.label = f"OpenSMTPD {self.version.split('-')[0]}"
        ensure_user("opensmtpd", home="/var/lib/opensmtpd/empty")
        ensure_user("opensmtpq", home="/var/lib/opensmtpd/empty")
        os.makedirs("/var/lib/opensmtpd/empty", exist_ok=True)
        self.smtpd = os.path.join(self.root, "usr/sbin/smtpd")
        self.smtpctl_path = os.path.join(self.root, "usr/sbin/smtpctl")
        # smtpctl refuses to run unless set-gid to the queue's group
        shutil.chown(self.smtpctl_path, group="opensmtpq")
        os.chmod(self.smtpctl_path, 0o2555)
        if os.path.exists(self.SOCK):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.SOCK)
                raise RuntimeError(f"another smtpd answers on {self.SOCK}")
            except OSError:
                os.unlink(self.SOCK)
        if os.path.isdir(self.SPOOL) and os.listdir(self.SPOOL):
            if not os.path.exists(self.marker):
                raise RuntimeError(f"{self.SPOOL} exists and is not the "
                                   "bench's: left alone")
        # its resolver (asr) asks DNS first: a lookup of every client
        # would go to the network's resolver and wait on it
        self.preexec = private_resolver(self.dir)
        if self.preexec is None:
            raise RuntimeError("cannot give it a private /etc/resolv.conf "
                               "(mount namespace): its DNS lookups would "
                               "leave the machine")
        self.conf = os.path.join(self.dir, "smtpd.conf")
        with open(self.conf, "w") as f:
            f.write(f"# written by the Portcullis bench; stock otherwise\n"
                    f"listen on 127.0.0.1 port {self.relay_port}\n"
                    f'action "relay" relay host '
                    f"smtp://127.0.0.1:{sink_port}\n"
                    'match from local for any action "relay"\n')
        os.chmod(self.conf, 0o644)
        res = run([self.smtpd, "-n", "-f", self.conf], 30)
        if res.returncode != 0:
            raise RuntimeError(f"smtpd -n: {res.stderr.strip()[:200]}")

    def spools(self):
        return [self.SPOOL]

    def pre_start(self):
        self.paused = False
        # a fresh spool each start, made by smtpd itself
        if os.path.isdir(self.SPOOL):
            shutil.rmtree(self.SPOOL)
        with open(self.marker, "w") as f:
            f.write("the bench made /var/spool/smtpd\n")

    def spawn(self):
        logf = open(self.logpath, "ab")
        p = Procs.spawn([self.smtpd, "-d", "-f", self.conf], stdout=logf,
                        stderr=subprocess.STDOUT, preexec_fn=self.preexec)
        logf.close()
        return p

    def ctl(self, *args, timeout=30):
        try:
            return run([self.smtpctl_path] + list(args), timeout)
        except subprocess.TimeoutExpired:
            return None

    def ready(self):
        res = self.ctl("show", "stats", timeout=10)
        return res is not None and res.returncode == 0

    def set_phase(self, phase):
        paused = phase == "accept"
        self.phase = phase
        if self.alive() and paused != self.paused:
            verb = "pause" if paused else "resume"
            res = self.ctl(verb, "mta")
            if res is None or (res.returncode != 0 and
                               "already" not in res.stdout + res.stderr):
                raise RuntimeError(f"smtpctl {verb} mta failed: "
                                   f"{res and res.stdout + res.stderr}")
            self.paused = paused

    def queue_size(self):
        res = self.ctl("show", "stats")
        if res is None or res.returncode != 0:
            return None
        m = re.search(r"^scheduler\.envelope=(\d+)", res.stdout, re.M)
        return int(m.group(1)) if m else 0

    def clear(self, timeout):
        if self.queue_size() == 0:
            return True
        self.ctl("remove", "all", timeout=120)
        return self.drain(timeout)

    def stop(self):
        super().stop()
        if os.path.exists(self.SOCK):
            try:
                os.unlink(self.SOCK)
            except OSError:
                pass


class SinkDirect(Daemon):
    """The generator straight into the sink: the load's own ceiling."""

    name = "ceiling"
    label = "generator->sink"
    version = ""

    def __init__(self, sink):
        super().__init__()
        self.sink = sink
        self.relay_port = sink.port
        self.logpath = sink.errpath

    def pid(self):
        return self.sink.proc.pid

    def alive(self):
        return self.sink.proc.poll() is None

    def queue_size(self):
        return 0

    def clear(self, timeout):
        return True

    def stop(self):
        pass
