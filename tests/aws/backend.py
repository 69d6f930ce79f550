#!/usr/bin/env python3
"""Looks at (and meddles with) terraform's S3 backend in the AWS emulator, for the tests:

    backend.py ENDPOINT state KEY         the current state object at KEY, as JSON (null if none)
    backend.py ENDPOINT versions KEY      [{"version_id", "size", "latest"}] of KEY, newest first
    backend.py ENDPOINT locks             the lock table's items: [{"LockID", "Info"?, "Digest"?}]
    backend.py ENDPOINT put-lock KEY WHO  holds KEY's lock as a crashed `terraform apply` by WHO would
    backend.py ENDPOINT put-lockfile KEY WHO   the same as S3 locking does (`use_lockfile`): KEY.tflock
    backend.py ENDPOINT lockfile KEY      KEY.tflock's lock info (null if none)

The bucket and table are the estate's (seed.py).
"""
import datetime
import json
import sys
import uuid

from seed import BACKEND_REGION, LOCK_TABLE, STATE_BUCKET, client


def main():
    endpoint, command, *args = sys.argv[1:]
    s3, dynamodb = client("s3", endpoint, BACKEND_REGION), client("dynamodb", endpoint, BACKEND_REGION)
    if command == "state":
        try:
            body = s3.get_object(Bucket=STATE_BUCKET, Key=args[0])["Body"].read()
            print(body.decode())
        except s3.exceptions.NoSuchKey:
            print("null")
    elif command == "versions":
        listed = s3.list_object_versions(Bucket=STATE_BUCKET, Prefix=args[0]).get("Versions", [])
        versions = [{"version_id": v["VersionId"], "size": v["Size"], "latest": v["IsLatest"]}
                    for v in listed if v["Key"] == args[0]]
        print(json.dumps(versions))
    elif command == "locks":
        items = dynamodb.scan(TableName=LOCK_TABLE)["Items"]
        print(json.dumps([{k: v["S"] for k, v in item.items()} for item in items]))
    elif command in ("put-lock", "put-lockfile"):
        key, who = args
        info = {"ID": str(uuid.uuid4()), "Operation": "OperationTypeApply", "Info": "", "Who": who,
                "Version": "1.11.4", "Created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "Path": f"{STATE_BUCKET}/{key}"}
        if command == "put-lock":
            dynamodb.put_item(TableName=LOCK_TABLE, Item={"LockID": {"S": f"{STATE_BUCKET}/{key}"}, "Info": {"S": json.dumps(info)}})
        else:
            s3.put_object(Bucket=STATE_BUCKET, Key=f"{key}.tflock", Body=json.dumps(info).encode())
        print(json.dumps(info))
    elif command == "lockfile":
        try:
            print(s3.get_object(Bucket=STATE_BUCKET, Key=f"{args[0]}.tflock")["Body"].read().decode())
        except s3.exceptions.NoSuchKey:
            print("null")
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
