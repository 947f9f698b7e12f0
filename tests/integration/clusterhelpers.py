"""Multi-node helpers for the cluster tests.

Node i of a test cluster is a real `tidemq` process named tidemq<i>@127.0.0.<i>;
every listener of it (MQTT, admin HTTP, cluster) binds on 127.0.0.<i>, each on
a free port picked on that address.  The nodes share a non-default cookie, seed
each other statically (cluster.static.seeds = the other nodes), and use small
membership knobs (HEARTBEAT_MS, DOWN_AFTER) so that a dead node is noticed fast.
Each node has its own node.data_dir; a restarted node keeps its command line
(same ports, same data_dir).

Fixtures (import them into a test module to use them):
  cluster(n=3, seeds=True, ...)  -> Cluster, started and formed; every node is
                                   killed at teardown, logs printed on failure
  shared_cluster / cluster3      -> one 3-node cluster for a whole module
  ctl(*args, env=None)           -> runs tidemq_ctl (skips if it is not built)

Waiting (all polls with a deadline, through the admin API):
  wait_cluster(nodes, running=N | [names], stopped=() | [names] | None)
  wait_route(node, filter, owner)     -- a publish on `node` after SUBSCRIBE on
                                        `owner` is only guaranteed once this holds
  wait_no_route(node, owner=..., topic=...)
  wait_node_status(node, name, "Running" | "Stopped")
"""

import base64
import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import mqttraw
from adminhelpers import CTL_BIN, ctl_bin  # noqa: F401  (re-exported: the cluster tests import them from here)
from conftest import START_TIMEOUT, Broker, BrokerStartError


DEFAULT_COOKIE = "tidemqsecretcookie"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "public"

# membership knobs of the test clusters: a node that stops answering is down
# after DOWN_AFTER missed heartbeats, i.e. DOWN_AFTER * HEARTBEAT_MS ms
HEARTBEAT_MS = 250
DOWN_AFTER = 4
DOWN_SECONDS = DOWN_AFTER * HEARTBEAT_MS / 1000.0
# what noticing a dead node may take beyond DOWN_SECONDS (scheduling on a busy
# 2-core machine, the admin API round trip of the poll)
DOWN_SLACK = 2.5

FORM_TIMEOUT = 10.0   # seeds -> every node sees every other one
ROUTE_TIMEOUT = 5.0   # a SUBSCRIBE on one node -> its route is visible on another
CTL_TIMEOUT = 15.0

pytestmark_cluster = pytest.mark.tidemq_only(reason="clustering is tidemq's own")


def toml_str(s):
    """A TOML basic string (JSON's escaping is valid TOML for these values)."""
    return json.dumps(str(s))


def toml_array(items):
    return "[" + ",".join(toml_str(i) for i in items) + "]"


def free_ports(host, n):
    """n distinct free TCP ports on `host` (held together while picking)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def accepts(host, port, timeout=0.25):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


# --- one node -------------------------------------------------------------------------

_CLUSTER_COOKIE = object()  # add(cookie=...) default: the cluster's shared cookie


class ClusterNode(Broker):
    """A tidemq process of a test cluster: node `index` on 127.0.0.<index>.

    Its ports are picked once, at construction, so that the other nodes can name
    it in their seeds before it starts and a restart reuses them."""

    def __init__(self, index, workdir, settings=None, seeds=(), cookie=None):
        super().__init__(workdir, {})
        self.index = index
        self.host = "127.0.0.%d" % index
        self.name = "tidemq%d@%s" % (index, self.host)
        self.port, self.admin_port, self.cluster_port = free_ports(self.host, 3)
        self.seed_refs = list(seeds)   # ClusterNode objects, "name@host:port" strings (or _Later)
        self.cookie = cookie
        self.user_settings = dict(settings or {})
        self.starts = 0

    # identity
    @property
    def address(self):
        """name@host:port of the cluster listener, as in seeds and cluster join."""
        return "%s:%d" % (self.name, self.cluster_port)

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.admin_port)

    @property
    def ctl_flags(self):
        return ["--url", self.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD]

    def __repr__(self):
        return "<node %s mqtt=%s admin=%s cluster=%s>" % (self.name, self.port, self.admin_port, self.cluster_port)

    # process
    def _settings(self):
        s = {
            "node.name": toml_str(self.name),
            "management.listener.http.bind": toml_str("%s:%d" % (self.host, self.admin_port)),
            "cluster.bind": toml_str("%s:%d" % (self.host, self.cluster_port)),
            "cluster.discovery": toml_str("static"),
            "cluster.heartbeat_interval": toml_str("%dms" % HEARTBEAT_MS),
            "cluster.down_after": DOWN_AFTER,
        }
        if self.cookie is not None:
            s["cluster.cookie"] = toml_str(self.cookie)
        seeds = [r.address if isinstance(r, ClusterNode) else r for r in self.seed_refs]
        if seeds:
            s["cluster.static.seeds"] = toml_array(seeds)
        s.update(self.user_settings)
        return s

    def start(self, timeout=START_TIMEOUT):
        """Start (or restart, with the same command line and data_dir) and wait until
        the MQTT and admin listeners accept.  Logs are appended across restarts."""
        assert not self.alive(), "%s is already running" % self.name
        self.settings = self._settings()
        cmd = self.command()
        self.cmdline = cmd
        self.starts += 1
        out, err = open(self.stdout_path, "ab"), open(self.stderr_path, "ab")
        if self.starts > 1:
            for f in (out, err):
                f.write(b"\n===== test harness: restart #%d =====\n" % (self.starts - 1))
                f.flush()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=self.environment(), cwd=str(self.workdir))
        finally:
            out.close()
            err.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise BrokerStartError("%s exited with %s during startup\ncmd: %s\n%s" % (
                    self.name, self.returncode, " ".join(cmd), self.logs()))
            if accepts(self.host, self.port) and accepts(self.host, self.admin_port):
                return self
            if time.monotonic() >= deadline:
                self.kill()
                raise BrokerStartError("%s: MQTT %s:%d / admin %s:%d not listening after %.0fs\n%s" % (
                    self.name, self.host, self.port, self.host, self.admin_port, timeout, self.logs()))
            time.sleep(0.02)

    def kill9(self):
        """kill -9, and reap it."""
        self.kill()

    def log_text(self, since=(0, 0)):
        """stdout and stderr of the node (after a log_mark())."""
        return self.stdout()[since[0]:] + "\n" + self.stderr()[since[1]:]

    def log_mark(self):
        return len(self.stdout()), len(self.stderr())

    # admin API
    def api(self, method, path, body=None, timeout=5.0):
        """-> (HTTP status, decoded JSON or None)."""
        c = http.client.HTTPConnection(self.host, self.admin_port, timeout=timeout)
        try:
            auth = base64.b64encode(("%s:%s" % (ADMIN_USER, ADMIN_PASSWORD)).encode()).decode()
            headers = {"Authorization": "Basic " + auth}
            data = None
            if body is not None:
                data = json.dumps(body)
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = raw
            return r.status, doc
        finally:
            c.close()

    def data(self, path):
        """GET path; asserts 200 and code 0; returns "data"."""
        status, doc = self.api("GET", path)
        assert status == 200 and isinstance(doc, dict) and doc.get("code") == 0, \
            "GET %s on %s: HTTP %s %r" % (path, self.name, status, doc)
        return doc.get("data")

    def cluster_info(self):
        return self.data("/api/v4/cluster")

    def nodes_info(self):
        """{node name: entry} of GET /api/v4/nodes."""
        return {n["node"]: n for n in self.data("/api/v4/nodes")}

    def routes(self):
        """[(topic, node)] of GET /api/v4/routes."""
        return [(r["topic"], r["node"]) for r in self.data("/api/v4/routes")]

    def client_info(self, clientid):
        from urllib.parse import quote
        return self.data("/api/v4/clients/" + quote(clientid, safe=""))


def name_of(n):
    return n.name if isinstance(n, ClusterNode) else n


# --- a cluster ------------------------------------------------------------------------

class Cluster:
    """Nodes by index (1-based): cluster[1], cluster.nodes (sorted by index)."""

    def __init__(self, workdir, cookie=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cookie = cookie or "it-cookie-" + uuid.uuid4().hex[:12]
        self.members = {}

    def add(self, index, seeds=(), cookie=_CLUSTER_COOKIE, settings=None):
        """A node (not started).  seeds: indices of (other) nodes of this cluster,
        ClusterNode objects or "name@host:port" strings; cookie: a string, None
        (cluster.cookie not set at all) or, by default, the cluster's cookie."""
        assert index not in self.members and 1 <= index <= 254
        refs = [s if isinstance(s, (str, ClusterNode)) else _Later(self, s) for s in seeds]
        node = ClusterNode(index, self.workdir / ("node%d" % index), settings, seeds=refs,
                           cookie=self.cookie if cookie is _CLUSTER_COOKIE else cookie)
        self.members[index] = node
        return node

    def start(self, *indices):
        for i in indices or sorted(self.members):
            node = self.members[i]
            node.seed_refs = [r.resolve() if isinstance(r, _Later) else r for r in node.seed_refs]
            node.start()
        return self

    def __getitem__(self, index):
        return self.members[index]

    @property
    def nodes(self):
        return [self.members[i] for i in sorted(self.members)]

    @property
    def names(self):
        return [n.name for n in self.nodes]

    def alive(self):
        return [n for n in self.nodes if n.alive()]

    def kill_all(self):
        for n in self.nodes:
            n.kill()

    def logs(self, limit=6000):
        return "\n".join("=== %r (pid %s, rc %s) ===\n%s" % (
            n, n.proc.pid if n.proc else None, n.proc.poll() if n.proc else None, n.logs(limit))
            for n in self.nodes)


class _Later:
    """A seed naming a node of the cluster that may not exist yet."""

    def __init__(self, cluster, index):
        self.cluster, self.index = cluster, index

    def resolve(self):
        return self.cluster.members[self.index]


def build_cluster(workdir, n=3, seeds=True, cookie=None, settings=None, node_settings=None):
    """A Cluster of nodes 1..n (not started); with seeds every node seeds all the others."""
    c = Cluster(workdir, cookie=cookie)
    for i in range(1, n + 1):
        s = dict(settings or {})
        s.update((node_settings or {}).get(i, {}))
        c.add(i, seeds=[j for j in range(1, n + 1) if j != i] if seeds else (), settings=s)
    return c


# --- waiting --------------------------------------------------------------------------

def poll(check, timeout, what, interval=0.05):
    """Call check() until it returns (True, value); returns value.  check may raise
    OSError (a node not answering yet): that counts as "not yet".  At the deadline
    raises AssertionError with the last state check reported."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            done, last = check()
            if done:
                return last
        except (OSError, http.client.HTTPException) as e:
            last = "error: %r" % (e,)
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %.1fs; last seen: %r" % (what, timeout, last))
        time.sleep(interval)


def wait_cluster(nodes, running, stopped=(), timeout=FORM_TIMEOUT):
    """Poll GET /api/v4/cluster on every node of `nodes` until each reports
    `running` (a count, or the exact list of node names / nodes) and `stopped`
    (list of names / nodes; () means none; None: not checked).  With a count,
    every node must report the same running set, itself included.
    Returns {node name: cluster data}."""
    want_running = None if isinstance(running, int) else sorted(name_of(n) for n in running)
    want_stopped = None if stopped is None else sorted(name_of(n) for n in stopped)

    def check():
        seen = {}
        for n in nodes:
            d = n.cluster_info()
            seen[n.name] = d
            r = d.get("running_nodes")
            s = d.get("stopped_nodes", [])
            if want_running is not None:
                if r != want_running:  # sorted, as the API promises
                    return False, seen
            elif not isinstance(r, list) or len(r) != running or n.name not in r or r != sorted(r):
                return False, seen
            if want_stopped is not None and s != want_stopped:
                return False, seen
        if want_running is None and len({tuple(d["running_nodes"]) for d in seen.values()}) != 1:
            return False, seen
        return True, seen

    return poll(check, timeout, "cluster of %s: running=%r stopped=%r" % (
        [n.name for n in nodes], running, stopped))


def wait_route(node, topic, owner, timeout=ROUTE_TIMEOUT):
    """Poll GET /api/v4/routes on `node` until it lists the route topic -> owner."""
    want = (topic, name_of(owner))
    return poll(lambda: (want in node.routes(), None), timeout,
                "route %r -> %s visible on %s" % (topic, want[1], node.name))


def wait_routes(node, pairs, timeout=ROUTE_TIMEOUT):
    for topic, owner in pairs:
        wait_route(node, topic, owner, timeout)


def wait_no_route(node, owner=None, topic=None, timeout=ROUTE_TIMEOUT):
    """Poll until `node` lists no route of `owner` (and/or for `topic`)."""
    def check():
        left = [r for r in node.routes()
                if (owner is None or r[1] == name_of(owner)) and (topic is None or r[0] == topic)]
        return not left, left

    return poll(check, timeout, "routes of %s / %s gone from %s" % (name_of(owner), topic, node.name))


def wait_node_status(node, name, status, timeout):
    """Poll GET /api/v4/nodes on `node` until member `name` has node_status `status`."""
    def check():
        info = node.nodes_info()
        e = info.get(name_of(name))
        return e is not None and e.get("node_status") == status, info

    return poll(check, timeout, "%s reports %s %s" % (node.name, name_of(name), status))


def wait_client_node(node, clientid, owner, timeout=5.0):
    """Poll GET /api/v4/clients/<id> on `node` until its one entry names `owner`."""
    def check():
        data = node.client_info(clientid)
        return isinstance(data, list) and len(data) == 1 and data[0].get("node") == name_of(owner), data

    return poll(check, timeout, "%s: client %r on %s" % (node.name, clientid, name_of(owner)))


def wait_log(node, pattern, timeout=10.0, since=(0, 0)):
    """Poll the node's stdout and stderr until a line (after `since`, a
    node.log_mark()) contains `pattern` (case-insensitive); returns that line."""
    def check():
        text = node.log_text(since)
        for line in text.splitlines():
            if pattern.lower() in line.lower():
                return True, line
        return False, text[-1500:]

    return poll(check, timeout, "%s log mentions %r" % (node.name, pattern), interval=0.1)


def status_line(running, stopped=()):
    """The exact `tidemq_ctl cluster status` line (with its newline)."""
    def q(names):
        return "[" + ",".join("'%s'" % name_of(n) for n in sorted(name_of(n) for n in names)) + "]"
    line = "Cluster status: #{running_nodes => " + q(running)
    if stopped:
        line += ",stopped_nodes => " + q(stopped)
    return line + "}\n"


# --- fixtures -------------------------------------------------------------------------

@pytest.fixture
def cluster(request, tmp_workdir):
    """cluster(n=3, seeds=True, cookie=None, settings=None, node_settings=None,
    start=True, wait=True) -> Cluster.

    Nodes 1..n (tidemq<i>@127.0.0.<i>), each seeding all the others when seeds is
    true; with start and wait (and seeds) it returns once every node reports all n
    running.  More nodes: c.add(i, seeds=[...], cookie=...) then c.start(i).
    Every node started is killed at teardown; on a failure all logs are printed."""
    made = []

    def make(n=3, seeds=True, cookie=None, settings=None, node_settings=None, start=True, wait=True):
        c = build_cluster(tmp_workdir / ("cluster%d" % len(made)), n, seeds, cookie, settings, node_settings)
        made.append(c)
        if start:
            c.start()
            if wait and seeds and n > 1:
                wait_cluster(c.nodes, running=n)
        return c

    yield make
    failed = _failed(request)
    for c in made:
        c.kill_all()
        if failed:
            sys.stderr.write("\n=== cluster logs ===\n%s\n" % c.logs())


@pytest.fixture(scope="module")
def shared_cluster():
    """One formed 3-node cluster for a whole module (the tests use unique topics)."""
    d = Path(tempfile.mkdtemp(prefix="tidemq-cluster-"))
    c = build_cluster(d, 3)
    try:
        c.start()
        wait_cluster(c.nodes, running=3)
    except BaseException:
        sys.stderr.write("\n=== cluster logs (module cluster failed to form) ===\n%s\n" % c.logs())
        c.kill_all()
        shutil.rmtree(str(d), ignore_errors=True)
        raise
    yield c
    c.kill_all()
    shutil.rmtree(str(d), ignore_errors=True)


@pytest.fixture
def cluster3(request, shared_cluster):
    """The module's 3-node cluster, checked healthy before the test; its logs are
    printed when the test fails."""
    c = shared_cluster
    dead = [n.name for n in c.nodes if not n.alive()]
    assert not dead, "node(s) %s died earlier in this module\n%s" % (dead, c.logs())
    wait_cluster(c.nodes, running=3, timeout=5)
    yield c
    if _failed(request):
        sys.stderr.write("\n=== cluster logs ===\n%s\n" % c.logs())


# --- tidemq_ctl ---------------------------------------------------------------------------

class CtlResult:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return "<rc=%d stdout=%r stderr=%r>" % (self.rc, self.out[-800:], self.err[-800:])


@pytest.fixture
def ctl(ctl_bin, tmp_workdir):
    """ctl(*args, node=None, env=None) -> CtlResult; with node, its --url/--user/
    --password are appended.  No TIDEMQ_* variable of ours leaks in; the working
    directory is empty (no conf/tidemq.conf)."""
    cwd = tmp_workdir / "ctl-cwd"
    cwd.mkdir(exist_ok=True)

    def run(*args, node=None, env=None, timeout=CTL_TIMEOUT):
        e = {k: v for k, v in os.environ.items() if not k.startswith("TIDEMQ_")}
        e.update(env or {})
        argv = [str(ctl_bin)] + [str(a) for a in args] + (node.ctl_flags if node is not None else [])
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=e, cwd=str(cwd),
                           timeout=timeout)
        return CtlResult(r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))

    return run


# --- clients behind a load balancer ----------------------------------------------------------

class Fleet:
    """MQTT clients that reconnect to the next node (round-robin) when the server drops them,
    as a load balancer in front of the cluster would make them do; shared by the rebalance
    tests (test_rebalance_cluster.py, test_rebalance_ctl.py).

    try_next_on_refusal: a node refusing a CONNECT with 0x9C (use another server) means the
    next node; without it every CONNECT must succeed."""

    def __init__(self, nodes, try_next_on_refusal=False):
        self.nodes = nodes
        self.try_next_on_refusal = try_next_on_refusal
        self.clients = {}  # client id -> (RawClient, node index)
        self.turn = 0

    def connect(self, cid, index):
        """Connects `cid` to node `index` (or, see try_next_on_refusal, to one after it)."""
        for attempt in range(len(self.nodes) if self.try_next_on_refusal else 1):
            i = (index + attempt) % len(self.nodes)
            c = mqttraw.RawClient(self.nodes[i].host, self.nodes[i].port)
            ack = c.connect(cid, keepalive=60)
            if ack.rc == 0:
                self.clients[cid] = (c, i)
                return
            c.close()
            assert self.try_next_on_refusal and ack.rc == 0x9C, ack
        raise AssertionError("every node refused %s" % cid)

    def serve(self, seconds):
        """Reads every socket for `seconds`; a dropped client reconnects to another node."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            socks = {c.sock: cid for cid, (c, _) in self.clients.items()}
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for sock in ready:
                cid = socks[sock]
                c, index = self.clients[cid]
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if data and data[0] >> 4 != mqttraw.DISCONNECT:
                    continue
                c.close()
                self.turn += 1
                target = (index + self.turn) % len(self.nodes)
                if target == index:
                    target = (target + 1) % len(self.nodes)
                self.connect(cid, target)

    def per_node(self):
        """How many clients each node has."""
        counts = [0] * len(self.nodes)
        for _, index in self.clients.values():
            counts[index] += 1
        return counts

    def close(self):
        for c, _ in self.clients.values():
            c.close()
