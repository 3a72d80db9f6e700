"""A stand-in for the Lambda Runtime API, enough to time a function's cold start and its warm
CPU cost.

Starts moto_server, creates the table and queue, then runs the function binary RUNS times; each
run gets one signed GitHub pull_request delivery as an API Gateway v2 event. Prints the median and
worst init time (process start to the first GET /next) and first-invocation time (event handed
out to response posted). Then one process takes WARM deliveries in a row (default 500): the CPU
time the function spends per delivery (verify, parse, record in DynamoDB, send to SQS; moto's
own time not counted), from /proc.
"""
import hashlib, hmac, json, os, socket, statistics, subprocess, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import urllib.request

binary, runs = sys.argv[1], int(sys.argv[2])
warm = int(sys.argv[3]) if len(sys.argv) > 3 else 500

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
SECRET = "cold-start-secret"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

moto_port = free_port()
moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{moto_port}/moto-api/", timeout=1); break
        except Exception:
            time.sleep(0.05)
    import boto3
    aws = dict(endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
               aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("dynamodb", **aws).create_table(
        TableName="slipway", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
    queue_url = boto3.client("sqs", **aws).create_queue(QueueName="slipway")["QueueUrl"]

    base = open("shared/tests/fixtures/github/pull_request.opened.1.json", "rb").read()
    template = json.load(open("functions/webhook/tests/events/apigw_v2.json"))

    state = {}
    class Runtime(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            if state["remaining"] == 0:
                state["done"].wait(10)  # the function waits here for its next event; we end it
                self.send_response(500); self.end_headers(); return
            state["remaining"] -= 1
            if "handed_out" not in state:
                state["init"] = time.perf_counter() - state["start"]
            state["handed_out"] = time.perf_counter()
            event = dict(template)
            # A unique body each run: the same signed bytes under a new id are a replay.
            doc = json.loads(base)
            doc["pull_request"]["title"] += " " + str(uuid.uuid4())
            payload = json.dumps(doc).encode()
            event["headers"] = dict(template["headers"], **{
                "x-github-event": "pull_request", "x-github-delivery": str(uuid.uuid4()),
                "x-hub-signature-256": "sha256=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest(),
                "content-length": str(len(payload))})
            event["body"] = payload.decode()
            body = json.dumps(event).encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:webhook")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body)
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0) or 0)
            state["response"] = self.rfile.read(length)
            state["statuses"].append(json.loads(state["response"])["statusCode"])
            if len(state["statuses"]) == 1:
                state["invoke"] = time.perf_counter() - state["handed_out"]
                state["cpu_after_first"] = cpu_seconds(state["pid"])
            if state["remaining"] == 0:
                state["cpu_after_last"] = cpu_seconds(state["pid"])
            self.send_response(202); self.end_headers()
            if state["remaining"] == 0:
                state["done"].set()

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}", AWS_LAMBDA_FUNCTION_NAME="webhook",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="1",
               AWS_LAMBDA_LOG_STREAM_NAME="s", AWS_LAMBDA_LOG_GROUP_NAME="g",
               AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}", SLIPWAY_TABLE="slipway",
               SLIPWAY_QUEUE_URL=queue_url, SLIPWAY_GITHUB_WEBHOOK_SECRET=SECRET, RUST_LOG="warn")
    def run(events):
        state.clear(); state.update(done=threading.Event(), remaining=events, statuses=[])
        state["start"] = time.perf_counter()
        proc = subprocess.Popen([binary], env=env)
        state["pid"] = proc.pid
        state["done"].wait(30 + events / 10)
        proc.kill(); proc.wait()
        assert state["statuses"] == [202] * events, state.get("response")

    inits, invokes = [], []
    for _ in range(runs):
        run(1)
        inits.append(state["init"] * 1000); invokes.append(state["invoke"] * 1000)
    run(warm + 1)
    warm_cpu_us = (state["cpu_after_last"] - state["cpu_after_first"]) / warm * 1e6
    server.shutdown()
    print(f"runs: {runs} cold, then {warm} warm in one process; every invocation answered 202")
    print(f"init (exec to first /next): median {statistics.median(inits):.1f} ms, max {max(inits):.1f} ms")
    print(f"first invocation (DynamoDB put + SQS send on moto): median {statistics.median(invokes):.1f} ms, max {max(invokes):.1f} ms")
    print(f"warm CPU per delivery (verify, parse, record, enqueue; the function's own): {warm_cpu_us:.0f} µs")
finally:
    moto.kill()
