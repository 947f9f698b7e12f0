"""Cluster links over mutual TLS (cluster.tls.*): nodes with certificates of the
cluster CA form a cluster and forward publishes; a node whose certificate comes
from another CA is refused (logged on both sides); a half-configured TLS setup
stops startup with exit code 2."""

import subprocess

import pytest

import mqttraw
from clusterhelpers import cluster, pytestmark_cluster, wait_cluster, wait_log, wait_route  # noqa: F401
from conftest import TIDEMQ_BIN, TIDEMQ_CONF

pytestmark = pytestmark_cluster
pytest_plugins = ["certs.fixtures"]


def tls_settings(certs, node="node"):
    return {
        "cluster.tls.enable": "true",
        "cluster.tls.certfile": '"%s"' % getattr(certs, node + "_crt"),
        "cluster.tls.keyfile": '"%s"' % getattr(certs, node + "_key"),
        "cluster.tls.cacertfile": '"%s"' % certs.ca_crt,
    }


def test_nodes_cluster_over_tls_and_forward(cluster, tls_certs):
    c = cluster(2, settings=tls_settings(tls_certs))
    n1, n2 = c[1], c[2]
    assert "TLS" in n1.log_text()
    sub = mqttraw.RawClient(n2.host, n2.port)
    sub.connect("tls-sub")
    sub.subscribe([("tls/t", 1)])
    wait_route(n1, "tls/t", n2)
    pub = mqttraw.RawClient(n1.host, n1.port)
    pub.connect("tls-pub")
    pub.publish_acked("tls/t", b"over tls")
    p = sub.expect(mqttraw.PUBLISH)
    assert (p.topic, p.payload) == ("tls/t", b"over tls")
    pub.close()
    sub.close()


def test_node_with_a_certificate_of_another_ca_is_refused(cluster, tls_certs):
    c = cluster(2, seeds=False, start=False, node_settings={1: tls_settings(tls_certs),
                                                             2: tls_settings(tls_certs, "other_node")})
    c[2].seed_refs = [c[1]]
    c.start()
    wait_log(c[2], "TLS")
    wait_log(c[1], "TLS")
    wait_cluster([c[1]], running=[c[1]], stopped=())
    wait_cluster([c[2]], running=[c[2]], stopped=())


def test_tls_without_files_is_a_config_error(tmp_path):
    r = subprocess.run([str(TIDEMQ_BIN), "--config", str(TIDEMQ_CONF), "--set", "node.data_dir=%s" % tmp_path,
                        "--set", "cluster.cookie=x", "--set", "cluster.tls.enable=true"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    assert "cluster.tls.certfile" in r.stderr + r.stdout
