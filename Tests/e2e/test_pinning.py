"""Jurisdiction pinning, checked on disk: every object of a bucket lives only on its jurisdiction's nodes, on exactly
R of them. Object bytes are ciphertext on disk, so the marker is the object key, which nodes store in clear."""
import os
import uuid


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
            markers[marker.encode()] = jurisdiction
    nodes = {name: path for name, path in server.node_dirs().items()}
    for marker, jurisdiction in markers.items():
        holders = {name for name, path in nodes.items() if files_containing(path, marker)}
        assert holders, f"marker of {jurisdiction} not found on any node"
        assert all(name.startswith(jurisdiction.lower() + "-") for name in holders), (jurisdiction, holders)
        assert len(holders) == 2, (marker, holders)  # replication factor 2 of the dev topology
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
