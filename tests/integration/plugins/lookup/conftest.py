"""Fixtures for the metadata lookup: the plugin from the loader, the emulator on 127.0.0.1.

The process environment is cleared of every variable the lookup reads, so
the shell that runs the tests cannot change what is tested.
"""
import os
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))

import imds_emulator  # noqa: E402

ENVIRONMENT = (
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "CLOUDMETA_IMDS_ALLOW_IMDSV1",
    "CLOUDMETA_IMDS_TIMEOUT",
    "CLOUDMETA_IMDS_RETRIES",
    "CLOUDMETA_IMDS_TOTAL_TIMEOUT",
    "CLOUDMETA_IMDS_TOKEN_TTL",
    "CLOUDMETA_IMDS_MAX_CONCURRENCY",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def builtin_instance():
    """A fresh copy of the emulator's built-in instance data, to edit."""
    return imds_emulator.builtin_instance()


@pytest.fixture
def lookup():
    from ansible.plugins.loader import lookup_loader

    plugin = lookup_loader.get("cloudmeta.imds.metadata")
    assert plugin is not None, "cloudmeta.imds.metadata not found by the plugin loader"
    return plugin


@pytest.fixture
def warnings(lookup, monkeypatch):
    """The warnings the lookup displays, in order."""
    shown = []
    module = sys.modules[type(lookup).__module__]
    monkeypatch.setattr(module.display, "warning", lambda msg, *args, **kwargs: shown.append(msg))
    return shown


@pytest.fixture
def read(lookup, emulator):
    """read(*terms, **options) -> lookup result against the built-in emulator."""

    def _read(*terms, **options):
        variables = options.pop("variables", {})
        options.setdefault("endpoint", emulator.url)
        return lookup.run(list(terms), variables=variables, **options)

    return _read
