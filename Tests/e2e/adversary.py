"""What the attack tests share: fresh names, the error a refused boto3 call got, a jurisdiction's audit records."""
import json
import uuid

import pytest
from botocore.exceptions import ClientError


def name(prefix="adv"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def refused(call):
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"].get("Code"), error["Error"].get("Message", "")


def audit_entries(server, jurisdiction):
    """J's audit records, from the log of every gateway that decided about J's data (one for `qantara serve`, one per
    gateway process in a federation), each log's in order."""
    return [json.loads(line) for directory in server.audit_dirs(jurisdiction) if (directory / "audit.log").exists()
            for line in (directory / "audit.log").read_text().splitlines()]
