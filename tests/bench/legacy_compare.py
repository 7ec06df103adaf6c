"""Compare amazon.aws.ec2_metadata_facts output with cloudmeta.imds legacy facts.

Used by the parity tests and by the benchmark (which checks that both
modules described the same instance before it compares their speed). Only
the differences documented in docs/legacy_facts.md are allowed:

* no credential fact in the new output (the old module published them);
* ``ansible_ec2_instance_tags`` holds every tag with its own value (the old
  module dropped keys containing ``-`` or ``:``, and a key such as ``a_b``
  could show the value of ``a-b``).
"""
import re

CREDENTIAL_FACTS = ("iam_security_credentials", "identity_credentials_ec2_security_credentials")


def credential_facts(facts, prefix="ansible_ec2_"):
    """Names in FACTS that carry IAM or STS credentials."""
    starts = tuple(prefix + name for name in CREDENTIAL_FACTS)
    return sorted(name for name in facts if name.startswith(starts))


def legacy_differences(old, new, prefix="ansible_ec2_"):
    """Differences between OLD and NEW flat facts that the documentation does not allow.

    PREFIX is how the facts are named where they were taken from:
    ``ansible_ec2_`` in a module result or top-level variables, ``ec2_``
    inside ``ansible_facts``. Returns a list of sentences; empty means parity.
    """
    problems = ["credential fact in the new output: %s" % name for name in credential_facts(new, prefix)]
    skipped = set(credential_facts(old, prefix)) | {prefix + "instance_tags"}
    for name in sorted(set(old) | set(new)):
        if name in skipped:
            continue
        if name not in new:
            problems.append("missing %s (old value %r)" % (name, old[name]))
        elif name not in old:
            problems.append("extra %s (new value %r)" % (name, new[name]))
        elif old[name] != new[name]:
            problems.append("%s differs: old %r, new %r" % (name, old[name], new[name]))
    problems.extend(_tag_dict_differences(old, new, prefix))
    return problems


def _tag_dict_differences(old, new, prefix):
    old_tags = old.get(prefix + "instance_tags")
    new_tags = new.get(prefix + "instance_tags")
    if old_tags is None or new_tags is None:
        return [] if old_tags is new_tags else ["instance_tags: old %r, new %r" % (old_tags, new_tags)]
    problems = []
    keys = new.get(prefix + "instance_tags_keys") or []
    if sorted(new_tags) != sorted(keys):
        problems.append("instance_tags keys %r are not instance_tags_keys %r" % (sorted(new_tags), sorted(keys)))
    renamed = {}
    for key in keys:
        renamed.setdefault(re.sub("[-:]", "_", key), []).append(key)
    for key, value in old_tags.items():
        collided = len(renamed.get(key, ())) > 1
        if not collided and new_tags.get(key) != value:
            problems.append("instance_tags[%r]: old %r, new %r" % (key, value, new_tags.get(key)))
    for key in sorted(set(new_tags) - set(old_tags)):
        if not re.search("[-:]", key):
            problems.append("instance_tags[%r] is new but the old module did not drop it" % key)
    return problems
