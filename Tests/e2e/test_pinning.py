"""Jurisdiction pinning, checked on disk: every object of a bucket lives only on its jurisdiction's nodes, on exactly
R of them, and its key in the bucket's listing index on R of them. Object bytes are ciphertext on disk, so the marker
is the object key, which nodes store in clear."""
import hashlib
import os
import uuid

R = 2  # the replication factor of the dev topology


def ranked(nodes, *parts):
    """`nodes` from most to least preferred by rendezvous hashing of `parts` (as Placement/Rendezvous.swift): the
    first 8 bytes of SHA-256(node, NUL, parts...), highest first."""
    def score(node):
        return int.from_bytes(hashlib.sha256(node.encode() + b"\0" + b"".join(parts)).digest()[:8], "big")
    return sorted(nodes, key=lambda node: (-score(node), node))


def expected_holders(nodes, bucket, key):
    """The nodes holding `key`: its R preferred replicas, and the bucket's R index replicas."""
    replicas = ranked(nodes, bucket.encode(), b"\0", key)[:R]
    index = ranked(nodes, bucket.encode(), b"\0\0index")[:R]
    return set(replicas) | set(index)


def files_containing(directory, needle):
    hits = []
    for root, _, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                if needle in handle.read():
                    hits.append(os.path.join(root, name))
    return hits


def test_objects_live_only_on_their_jurisdictions_nodes(server, s3):
    markers = {}
    for jurisdiction in ("MA", "FR", "US"):
        bucket = f"pin-{jurisdiction.lower()}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": jurisdiction})
        for index in range(6):
            marker = f"PINNED-{jurisdiction}-{uuid.uuid4().hex}"
            # A 2.5 MiB body spans several segments.
            s3.put_object(Bucket=bucket, Key=marker, Body=os.urandom(2_500_000))
            markers[marker.encode()] = (jurisdiction, bucket)
    nodes = {name: path for name, path in server.node_dirs().items()}
    for marker, (jurisdiction, bucket) in markers.items():
        holders = {name for name, path in nodes.items() if files_containing(path, marker)}
        assert holders, f"marker of {jurisdiction} not found on any node"
        assert all(name.startswith(jurisdiction.lower() + "-") for name in holders), (jurisdiction, holders)
        own = [name for name in nodes if name.startswith(jurisdiction.lower() + "-")]
        assert holders == expected_holders(own, bucket, marker), (marker, holders)
    listing = server.cli("node", "list").stdout
    for line in listing.splitlines()[1:]:
        node, jurisdiction, state = line.split()[:3]
        assert node.startswith(jurisdiction.lower() + "-") and state == "online"


def test_node_list_counts_objects(server, s3):
    bucket = "count-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "US"})
    before = {l.split()[0]: int(l.split()[3]) for l in server.cli("node", "list").stdout.splitlines()[1:]}
    for index in range(10):
        s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
    after = {l.split()[0]: int(l.split()[3]) for l in server.cli("node", "list").stdout.splitlines()[1:]}
    added = {node: after[node] - before[node] for node in after}
    assert sum(added.values()) == 20
    assert all(count == 0 for node, count in added.items() if not node.startswith("us-"))
