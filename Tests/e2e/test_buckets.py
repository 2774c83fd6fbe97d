"""Buckets with boto3: create (with jurisdictions), head, location, list, delete, naming rules."""
import uuid

import pytest
from botocore.exceptions import ClientError


def name():
    return "bk-" + uuid.uuid4().hex[:12]


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.mark.parametrize("location,jurisdiction", [("MA", "MA"), ("FR", "FR"), ("US", "US"), ("eu-west-3", "FR"),
                                                   ("ma-central-1", "MA"), (None, "MA")])
def test_create_bucket_pins_jurisdiction(server, s3, location, jurisdiction):
    bucket = name()
    if location:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": location})
    else:
        s3.create_bucket(Bucket=bucket)
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == jurisdiction
    head = s3.head_bucket(Bucket=bucket)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == jurisdiction
    listed = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert bucket in listed
    # Only the bucket's own jurisdiction manages it: through MA's gateway a bucket of FR or the US is not deleted.
    home = server.client(gateway=jurisdiction)
    if jurisdiction != "MA":
        with pytest.raises(ClientError) as excinfo:
            s3.delete_bucket(Bucket=bucket)
        assert code_of(excinfo) == "AccessDenied" and "managed only through a gateway" in str(excinfo.value)
    home.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as excinfo:
        s3.head_bucket(Bucket=bucket)
    assert excinfo.value.response["Error"]["Code"] in ("404", "NoSuchBucket")


def test_unknown_location_is_refused(s3):
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket=name(), CreateBucketConfiguration={"LocationConstraint": "ZZ"})
    assert code_of(excinfo) == "InvalidLocationConstraint"


def test_malformed_configuration_is_refused(server):
    from qantara import raw_request, error_code
    status, _, body = raw_request(server, "PUT", "/" + name(), body=b"<CreateBucketConfiguration><Loc")
    assert status == 400 and error_code(body) == "MalformedXML"


@pytest.mark.parametrize("bad", ["ab", "Upper-Case", "under_score", "-dash", "a..b", "192.168.1.1", "x" * 64])
def test_invalid_bucket_names(server, bad):
    from qantara import raw_request, error_code
    status, _, body = raw_request(server, "PUT", "/" + bad)
    assert status == 400 and error_code(body) == "InvalidBucketName", body


def test_delete_non_empty_bucket_and_owned_twice(s3):
    bucket = name()
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket=bucket)
    assert code_of(excinfo) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(excinfo) == "BucketNotEmpty"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_missing_bucket(s3):
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket=name())
    assert code_of(excinfo) == "NoSuchBucket"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=name(), Key="k", Body=b"x")
    assert code_of(excinfo) == "NoSuchBucket"


def test_unsupported_operations_answer_not_implemented(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code_of(excinfo) == "NotImplemented"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")
