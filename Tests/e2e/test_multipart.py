"""Multipart uploads with boto3 and the aws CLI: parts, copies of ranges, completion rules, abort, listings."""
import base64
import filecmp
import hashlib
import os
import zlib

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def multipart_etag(parts):
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-%d" % len(parts)


def test_upload_complete_and_read_parts(s3, bucket):
    parts = [os.urandom(5 * MIB + 1), os.urandom(5 * MIB), os.urandom(123)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp/obj", ContentType="video/mp4", Metadata={"a": "1"})
    uid = upload["UploadId"]
    etags = []
    for number, body in enumerate(parts, 1):
        etags.append(s3.upload_part(Bucket=bucket, Key="mp/obj", UploadId=uid, PartNumber=number, Body=body)["ETag"])
    assert etags[0] == '"%s"' % hashlib.md5(parts[0]).hexdigest()
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="mp/obj")  # invisible until complete
    listed = s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp/obj", uid)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp/obj", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    assert done["ETag"] == '"%s"' % multipart_etag(parts)
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp/obj")
    assert got["Body"].read() == whole and got["ContentType"] == "video/mp4" and got["Metadata"] == {"a": "1"}
    assert s3.get_object(Bucket=bucket, Key="mp/obj", Range="bytes=%d-%d" % (5 * MIB - 3, 5 * MIB + 5))["Body"].read() \
        == whole[5 * MIB - 3:5 * MIB + 6]
    second = s3.get_object(Bucket=bucket, Key="mp/obj", PartNumber=2)
    assert second["Body"].read() == parts[1] and second["PartsCount"] == 3
    assert s3.head_object(Bucket=bucket, Key="mp/obj", PartNumber=3)["ContentLength"] == 123
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="mp/obj", PartNumber=4)
    assert code_of(excinfo) == "InvalidPartNumber"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as excinfo:
        s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=uid)
    assert code_of(excinfo) == "NoSuchUpload"


def test_completion_rules(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="rules")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="rules", UploadId=uid, PartNumber=1, Body=b"tiny")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="rules", UploadId=uid, PartNumber=2, Body=b"end")["ETag"]
    cases = [
        ([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}], "EntityTooSmall"),
        ([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}], "InvalidPartOrder"),
        ([{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}], "InvalidPart"),
        ([{"PartNumber": 3, "ETag": small}], "InvalidPart"),
    ]
    for parts, code in cases:
        with pytest.raises(ClientError) as excinfo:
            s3.complete_multipart_upload(Bucket=bucket, Key="rules", UploadId=uid, MultipartUpload={"Parts": parts})
        assert code_of(excinfo) == code, parts
    # Nothing changed: the upload is still there and completes with a valid list (a single small part is fine).
    s3.complete_multipart_upload(Bucket=bucket, Key="rules", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small}]})
    assert s3.get_object(Bucket=bucket, Key="rules")["Body"].read() == b"tiny"


def test_malformed_complete_xml(server, s3, bucket):
    from qantara import raw_request, error_code
    uid = s3.create_multipart_upload(Bucket=bucket, Key="xml")["UploadId"]
    for body in (b"<CompleteMultipartUpload><Part>", b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                 b"<Other/>"):
        status, _, reply = raw_request(server, "POST", f"/{bucket}/xml", body=body, query=f"uploadId={uid}")
        assert status == 400 and error_code(reply) == "MalformedXML", body
    s3.abort_multipart_upload(Bucket=bucket, Key="xml", UploadId=uid)


def segments(server):
    return sum(int(line.split()[5]) for line in server.cli("node", "list").stdout.splitlines()[1:])


def test_abort_leaves_nothing(server, s3, bucket):
    before = segments(server)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    for number in (1, 2):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=number, Body=os.urandom(2 * MIB))
    assert segments(server) == before + 2 * 2 * 2  # two 2 MiB parts, 2 segments each, on 2 replicas
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)
    assert segments(server) == before
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=3, Body=b"x")
    assert code_of(excinfo) == "NoSuchUpload"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="aborted")
    # No stored bytes are left behind: every segment of the parts is gone from the nodes' databases.
    for line in server.cli("node", "list").stdout.splitlines()[1:]:
        assert line.split()[4] == "0"


def test_part_replaced_by_later_upload(server, s3, bucket):
    before = segments(server)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="replace")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="replace", UploadId=uid, PartNumber=1, Body=b"first")
    etag = s3.upload_part(Bucket=bucket, Key="replace", UploadId=uid, PartNumber=1, Body=b"second")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="replace", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="replace")["Body"].read() == b"second"
    assert segments(server) == before + 2  # the replaced part's segments are gone; one segment on 2 replicas
    s3.delete_object(Bucket=bucket, Key="replace")
    assert segments(server) == before


def test_upload_part_copy_with_range(s3, bucket):
    source = os.urandom(7 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-5242879")
    second = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=6291456-7340031")
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[:5 * MIB] + source[6 * MIB:]
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-1")
    assert code_of(excinfo) == "NoSuchUpload"


def test_checksum_algorithm_honoured(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="summed", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = [os.urandom(5 * MIB), os.urandom(1000)]
    results = [s3.upload_part(Bucket=bucket, Key="summed", UploadId=uid, PartNumber=n, Body=b, ChecksumAlgorithm="CRC32")
               for n, b in enumerate(parts, 1)]
    for body, result in zip(parts, results):
        assert result["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    done = s3.complete_multipart_upload(Bucket=bucket, Key="summed", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]} for n, r in enumerate(results, 1)]})
    combined = zlib.crc32(b"".join(base64.b64decode(r["ChecksumCRC32"]) for r in results))
    assert done["ChecksumCRC32"] == base64.b64encode(combined.to_bytes(4, "big")).decode() + "-2"
    got = s3.get_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(parts)


def test_aws_cli_200_mib_multipart_up_and_down(server, bucket, tmp_path):
    source = tmp_path / "big.bin"
    with open(source, "wb") as handle:
        for _ in range(200):
            handle.write(os.urandom(MIB))
    server.aws("s3", "cp", str(source), f"s3://{bucket}/big.bin")
    head = server.client().head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 200 * MIB and head["ETag"].endswith('-25"')
    back = tmp_path / "big.back"
    server.aws("s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert filecmp.cmp(source, back, shallow=False)


def test_parts_and_uploads_paginate_in_order(s3, bucket):
    """ListParts and ListMultipartUploads read one page per node from a marker on: boto3's paginators, with small
    pages, see every part and every upload exactly once, in order, rolled up under a delimiter."""
    import concurrent.futures
    uid = s3.create_multipart_upload(Bucket=bucket, Key="many-parts")["UploadId"]
    for number in range(1, 26):
        s3.upload_part(Bucket=bucket, Key="many-parts", UploadId=uid, PartNumber=number, Body=f"p{number}".encode())
    numbers, pages = [], 0
    for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key="many-parts", UploadId=uid,
                                                        PaginationConfig={"PageSize": 7}):
        pages += 1
        numbers += [part["PartNumber"] for part in page.get("Parts", [])]
    assert numbers == list(range(1, 26)) and pages == 4
    keys = [f"dir{index % 3}/k{index:02d}" for index in range(12)] + ["top-a", "top-b", "top-a"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda key: (key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]),
                                keys))
    expected = sorted(created + [("many-parts", uid)], key=lambda pair: (pair[0].encode(), pair[1]))
    seen = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}):
        seen += [(upload["Key"], upload["UploadId"]) for upload in page.get("Uploads", [])]
    assert seen == expected
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["dir0/", "dir1/", "dir2/"]
    assert [u["Key"] for u in rolled["Uploads"]] == ["many-parts", "top-a", "top-a", "top-b"]
    small = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=2)
    assert small["IsTruncated"] and [p["Prefix"] for p in small["CommonPrefixes"]] == ["dir0/", "dir1/"]
    assert small["NextKeyMarker"] == "dir1/"
    prefixes, rolled_keys = [], []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Delimiter="/",
                                                                    PaginationConfig={"PageSize": 2}):
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        rolled_keys += [u["Key"] for u in page.get("Uploads", [])]
    assert prefixes == ["dir0/", "dir1/", "dir2/"] and rolled_keys == ["many-parts", "top-a", "top-a", "top-b"]
    for key, upload in created + [("many-parts", uid)]:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
