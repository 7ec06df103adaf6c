"""The agent's Prometheus textfile: the exposition format node_exporter reads, written atomically."""
import os

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.metrics import Metric, render, write_textfile


def test_gauges_and_counters_in_the_text_format():
    registered = Metric("cloudmeta_imds_registered", "gauge", "1 while the instance is registered")
    registered.set(1, backend="elbv2")
    notices = Metric("cloudmeta_imds_notices_total", "counter", "Notices seen, by kind")
    notices.inc(kind="spot")
    notices.inc(kind="spot")
    notices.inc(kind="maintenance")
    duration = Metric("cloudmeta_imds_last_deregistration_seconds", "gauge", "Time the last deregistration took")
    duration.set(4.25)
    assert render([registered, notices, duration]) == (
        "# HELP cloudmeta_imds_registered 1 while the instance is registered\n"
        "# TYPE cloudmeta_imds_registered gauge\n"
        'cloudmeta_imds_registered{backend="elbv2"} 1\n'
        "# HELP cloudmeta_imds_notices_total Notices seen, by kind\n"
        "# TYPE cloudmeta_imds_notices_total counter\n"
        'cloudmeta_imds_notices_total{kind="maintenance"} 1\n'
        'cloudmeta_imds_notices_total{kind="spot"} 2\n'
        "# HELP cloudmeta_imds_last_deregistration_seconds Time the last deregistration took\n"
        "# TYPE cloudmeta_imds_last_deregistration_seconds gauge\n"
        "cloudmeta_imds_last_deregistration_seconds 4.25\n")


def test_label_values_from_metadata_are_escaped():
    metric = Metric("cloudmeta_imds_registered", "gauge", "help")
    metric.set(0, service='web"} 1\nevil_metric 1 #\\')
    assert render([metric]).splitlines()[-1] == r'cloudmeta_imds_registered{service="web\"} 1\nevil_metric 1 #\\"} 0'


@pytest.mark.parametrize("name, kind", [("1bad", "gauge"), ("ok", "histogram"), ("has space", "counter")])
def test_invalid_metrics_are_refused(name, kind):
    with pytest.raises(ValueError):
        Metric(name, kind, "help")


@pytest.mark.parametrize("label", ["__name__", "bad-label", "1x"])
def test_invalid_label_names_are_refused(label):
    with pytest.raises(ValueError, match="invalid label name"):
        Metric("ok", "gauge", "help").set(1, **{label: "v"})


def test_written_atomically_and_readable_by_node_exporter(tmp_path):
    metric = Metric("cloudmeta_imds_registered", "gauge", "help")
    metric.set(1)
    path = tmp_path / "cloudmeta_imds_lifecycle.prom"
    write_textfile(str(path), [metric])
    assert path.read_text().endswith("cloudmeta_imds_registered 1\n")
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert os.listdir(tmp_path) == ["cloudmeta_imds_lifecycle.prom"]


def test_the_textfile_collector_needs_the_prom_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.prom"):
        write_textfile(str(tmp_path / "metrics.txt"), [])


def test_special_values_are_written_as_prometheus_spells_them():
    metric = Metric("cloudmeta_imds_last_poll_seconds", "gauge", "help")
    metric.set(float("nan"), case="nan")
    metric.set(float("inf"), case="inf")
    metric.set(float("-inf"), case="minus")
    metric.set(2 ** 60, case="big")
    assert render([metric]).splitlines()[2:] == [
        'cloudmeta_imds_last_poll_seconds{case="big"} 1.152921504606847e+18',
        'cloudmeta_imds_last_poll_seconds{case="inf"} +Inf',
        'cloudmeta_imds_last_poll_seconds{case="minus"} -Inf',
        'cloudmeta_imds_last_poll_seconds{case="nan"} NaN']
