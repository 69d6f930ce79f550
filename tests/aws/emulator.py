#!/usr/bin/env python3
"""The AWS emulator for tests and the demo: moto's server behind a small proxy.

    emulator.py [--seed] [--state-backend] [--port PORT] [--exit-with-stdin]

Starts moto (one per region of the estate) on free loopback ports and the proxy on PORT (default:
a free one), optionally seeds the Zelly estate in both regions (`--seed`, see seed.py) and
terraform's state backend (`--state-backend`: the versioned bucket and the lock table), prints
`AWS emulator at http://127.0.0.1:PORT` and runs until it is stopped (SIGTERM/SIGINT, or, with
`--exit-with-stdin`, its standard input closing: a test process that dies takes it along),
stopping moto with it.

The proxy exists because moto does not speak the Smithy RPC v2 CBOR protocol that the current
CloudWatch SDK uses: such requests are translated to CloudWatch's JSON protocol and the answers
back to CBOR. moto also cannot compute percentile statistics (p50, p99: it fails the whole
GetMetricData call), so the proxy asks it for the average in their place: the control plane
still sends real percentile queries and reads their answers. It also counts every call (service, operation, region) and can inject latency and
failures, for the tests:

    GET  /_proxy/calls                      [{"service", "operation", "region"}, ...]
                                            (GetCostAndUsage: also "time_period")
    POST /_proxy/reset                      forget calls and faults
    POST /_proxy/faults  {"latency_ms": 100, "operation": "GetMetricData", "region": "ap-south-1",
                          "error": "throttle" | "500" | "timeout", "times": 3}
"""
import argparse
import datetime
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import cbor2

HERE = os.path.dirname(os.path.abspath(__file__))
CBOR_PREFIX = "/service/"
# CloudWatch members that are timestamps: CBOR carries them as tag 1, JSON as epoch seconds.
TIMESTAMP_KEYS = {"Timestamp", "Timestamps", "StartTime", "EndTime", "StateUpdatedTimestamp",
                  "AlarmConfigurationUpdatedTimestamp", "StateTransitionedTimestamp"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def to_json_value(value):
    """CBOR-decoded request values into JSON-protocol values (datetimes become epoch seconds)."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value


def percentiles_as_average(payload):
    """moto cannot compute pNN statistics: ask for the average instead (see the module doc)."""
    for query in payload.get("MetricDataQueries", []):
        stat = query.get("MetricStat", {})
        if str(stat.get("Stat", "")).startswith("p"):
            stat["Stat"] = "Average"
    return payload


def to_cbor_value(value, key=None):
    """JSON-protocol answers into CBOR values, turning timestamp members back into datetimes."""
    if isinstance(value, dict):
        return {k: to_cbor_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [to_cbor_value(v, key) for v in value]
    if key in TIMESTAMP_KEYS and isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    return value


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []
        self.faults = []

    def fault_for(self, operation, region):
        with self.lock:
            for fault in self.faults:
                if fault.get("operation") not in (None, operation) or fault.get("region") not in (None, region):
                    continue
                if fault.get("times") is not None:
                    if fault["times"] <= 0:
                        continue
                    fault["times"] -= 1
                return dict(fault)
        return None


def make_handler(moto_ports, state):
    """`moto_ports` maps a region to the moto serving it; None is the one for other regions and
    for requests that name no region."""
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The handler writes status, headers and body separately: with Nagle's algorithm on, a
        # kept-alive connection stalls ~40 ms on every answer (delayed ACKs), which is no AWS.
        disable_nagle_algorithm = True

        def log_message(self, *_args):
            pass

        def reply(self, status, body, content_type, extra=(), length=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def control(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                if self.path == "/_proxy/calls":
                    out = list(state.calls)
                elif self.path == "/_proxy/reset":
                    state.calls.clear()
                    state.faults.clear()
                    out = {}
                else:
                    state.faults.append(body)
                    out = {}
            self.reply(200, json.dumps(out).encode(), "application/json")

        def do_GET(self):
            if self.path.startswith("/_proxy/"):
                return self.control()
            self.forward(b"")

        def do_POST(self):
            if self.path.startswith("/_proxy/"):
                return self.control()
            self.forward(self.body())

        # S3 (terraform's state backend) also puts, deletes and asks for heads.
        def do_PUT(self):
            self.forward(self.body())

        def do_DELETE(self):
            self.forward(self.body())

        def do_HEAD(self):
            self.forward(b"")

        def body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length)

        def forward(self, body):
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "transfer-encoding")}
            # Header names arrive in any case (the Rust SDK sends lowercase): look up case-blind.
            auth = self.headers.get("Authorization", "")
            region = auth.split("Credential=")[1].split("/")[2] if "Credential=" in auth else None
            cbor = self.path.startswith(CBOR_PREFIX)
            if cbor:
                # /service/GraniteServiceVersion20100801/operation/GetMetricData
                parts = self.path.split("/")
                target, operation = parts[2], parts[4]
                service = "monitoring"
                payload = percentiles_as_average(to_json_value(cbor2.loads(body)) if body else {})
                body = json.dumps(payload).encode()
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in ("content-type", "accept", "smithy-protocol", "x-amz-target")}
                headers["Content-Type"] = "application/x-amz-json-1.0"
                headers["X-Amz-Target"] = f"{target}.{operation}"
                path = "/"
            else:
                target = self.headers.get("X-Amz-Target", "")
                operation = target.split(".")[-1] if target else self.path
                service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "?"
                path = self.path
                if service == "s3":
                    operation = s3_operation(self.command, self.path)
            call = {"service": service, "operation": operation, "region": region}
            if operation == "GetCostAndUsage":
                call["time_period"] = json.loads(body or b"{}").get("TimePeriod")
            with state.lock:
                state.calls.append(call)
            # moto answers any period; Cost Explorer refuses one that does not end after it starts.
            period = call.get("time_period") or {}
            if period and not period.get("Start", "") < period.get("End", ""):
                error = {"__type": "ValidationException", "message": "Start date (and hour) should be before end date (and hour)"}
                return self.reply(400, json.dumps(error).encode(), "application/x-amz-json-1.1",
                                  [("x-amzn-ErrorType", error["__type"])])

            fault = state.fault_for(operation, region)
            if fault and fault.get("latency_ms"):
                time.sleep(fault["latency_ms"] / 1000)
            if fault and fault.get("error") == "timeout":
                time.sleep(fault.get("seconds", 30))
            if fault and fault.get("error") in ("throttle", "500"):
                throttle = fault["error"] == "throttle"
                error = {"__type": "ThrottlingException" if throttle else "InternalFailure",
                         "message": "Rate exceeded" if throttle else "injected failure"}
                status = 400 if throttle else 500
                if cbor:
                    return self.reply(status, cbor2.dumps(error), "application/cbor", [("smithy-protocol", "rpc-v2-cbor")])
                return self.reply(status, json.dumps(error).encode(), "application/x-amz-json-1.1",
                                  [("x-amzn-ErrorType", error["__type"])])

            if self.path.startswith("/moto-api/reset"):
                for other in set(moto_ports.values()):
                    reset = http.client.HTTPConnection("127.0.0.1", other, timeout=60)
                    reset.request(self.command, path, body=body, headers=headers)
                    reset.getresponse().read()
                    reset.close()
            moto_port = moto_ports.get(region, moto_ports[None])
            conn = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=60)
            conn.request(self.command, path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
            out_headers = [(k, v) for k, v in res.getheaders()
                           if k.lower() not in ("content-length", "content-type", "transfer-encoding", "connection", "date", "server")]
            content_type = res.getheader("Content-Type", "application/octet-stream")
            if cbor:
                value = to_cbor_value(json.loads(data)) if data else {}
                data = cbor2.dumps(value, timezone=datetime.timezone.utc, datetime_as_timestamp=True)
                content_type = "application/cbor"
                out_headers.append(("smithy-protocol", "rpc-v2-cbor"))
            # A HEAD answer has no body but tells the length of the object it describes.
            length = res.getheader("Content-Length") if self.command == "HEAD" else None
            self.reply(res.status, data, content_type, out_headers, length)
            conn.close()

    return Proxy


def wait_for(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def s3_operation(method, path):
    """S3's REST calls by name (ListObjectVersions, GetObject, …), as the other services' are."""
    bucket_and_key, _, query = path.partition("?")
    params = {p.split("=")[0] for p in query.split("&") if p}
    on_object = "/" in bucket_and_key.strip("/")
    if method == "GET" and "versions" in params:
        return "ListObjectVersions"
    if method == "GET" and ("list-type" in params or not on_object):
        return "ListObjects"
    names = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject", "POST": "PostObject"}
    return names.get(method, method) if on_object else f"{method} bucket"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--state-backend", action="store_true")
    parser.add_argument("--exit-with-stdin", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    # One moto per region of the estate, as AWS regions are independent services: one moto
    # process evaluates requests one at a time (Python), which would make two regions' calls
    # wait for each other. Other regions share a default one.
    regions = [None, "ap-south-1", "ap-southeast-1"]
    moto_ports = {region: free_port() for region in regions}
    env = dict(os.environ, MOTO_ECS_SERVICE_RUNNING="1")
    motos = [subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1",
                               "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for port in moto_ports.values()]

    def stop_motos():
        for moto in motos:
            moto.terminate()

    def stop(*_):
        stop_motos()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for port in moto_ports.values():
            wait_for(port)
        state = State()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port or free_port()), make_handler(moto_ports, state))
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        if args.seed or args.state_backend:
            # Through the proxy, so each region's data lands in that region's moto.
            sys.path.insert(0, HERE)
            import seed
            endpoint = f"http://127.0.0.1:{port}"
            if args.seed:
                seed.seed(endpoint)
            if args.state_backend:
                seed.seed_state_backend(endpoint)
            with state.lock:
                state.calls.clear()
        print(f"AWS emulator at http://127.0.0.1:{port}", flush=True)
        if args.exit_with_stdin:
            # Whoever started us holds our stdin: when it goes, so do we.
            sys.stdin.buffer.read()
        else:
            threading.Event().wait()
    finally:
        stop_motos()


if __name__ == "__main__":
    main()
