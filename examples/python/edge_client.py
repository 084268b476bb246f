#!/usr/bin/env python3
"""Submit a job to Edge Executor from Python, watch it run and print its output.

The client code is generated from the repository's proto/ files at start (grpc_tools.protoc),
into a temporary folder, so nothing generated is committed and the stubs always match proto/.

    /usr/bin/python3 examples/python/edge_client.py --api 127.0.0.1:50051 -- sh -c 'echo hello'

Needs grpcio, and protoc with the gRPC Python plugin (Debian: python3-grpcio protobuf-compiler
protobuf-compiler-grpc) or a recent grpcio-tools (pip). Exits 0 when the job
SUCCEEDED, 1 when it ended otherwise, 2 on a usage or connection problem.
"""
import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTOS = ["edge/v1/job.proto", "edge/v1/job_service.proto", "edge/v1/log_service.proto"]


def generate(out_dir):
    """Generates the message and service modules for our protos into out_dir.

    Uses protoc with the gRPC Python plugin when both are installed (Debian: protobuf-compiler,
    protobuf-compiler-grpc), else grpcio-tools' bundled compiler (pip: grpcio-tools). The protos use
    proto3 `optional`, which needs protoc 3.15 or newer (3.12-3.14 with an experimental flag).
    """
    outputs = ["-I" + PROTO_DIR, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + PROTOS
    protoc, plugin = shutil.which("protoc"), shutil.which("grpc_python_plugin")
    if protoc and plugin:
        status = subprocess.call([protoc, "--plugin=protoc-gen-grpc_python=" + plugin] + outputs)
    else:
        import grpc_tools
        from grpc_tools import protoc as bundled

        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        status = bundled.main(["protoc", "-I" + well_known] + outputs)
    if status != 0:
        raise SystemExit("could not generate the client from " + PROTO_DIR)
    sys.path.insert(0, out_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default=os.environ.get("EDGE_API_ADDR", "127.0.0.1:50051"), help="host:port of the API server")
    parser.add_argument("--queue", default="default", help="queue to submit to")
    parser.add_argument("argv", nargs="+", help="the command to run (after --)")
    args = parser.parse_args()

    import grpc

    with tempfile.TemporaryDirectory(prefix="edge-py-") as out:
        generate(out)
        job_pb2 = importlib.import_module("edge.v1.job_pb2")
        job_service_pb2 = importlib.import_module("edge.v1.job_service_pb2")
        job_service_grpc = importlib.import_module("edge.v1.job_service_pb2_grpc")
        log_service_pb2 = importlib.import_module("edge.v1.log_service_pb2")
        log_service_grpc = importlib.import_module("edge.v1.log_service_pb2_grpc")

        metadata = []
        if os.environ.get("EDGE_TOKEN"):
            metadata.append(("authorization", "Bearer " + os.environ["EDGE_TOKEN"]))

        with grpc.insecure_channel(args.api) as channel:
            jobs = job_service_grpc.JobServiceStub(channel)
            logs = log_service_grpc.LogServiceStub(channel)
            try:
                spec = job_pb2.JobSpec(queue=args.queue, argv=args.argv)
                job = jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec), metadata=metadata, timeout=10).job
            except grpc.RpcError as err:
                print("cannot submit to %s: %s %s" % (args.api, err.code().name, err.details()), file=sys.stderr)
                return 2
            print("submitted job %s" % job.id, file=sys.stderr)

            # Watch: the tail stream follows the log while the job runs and ends when the job ends.
            for chunk in logs.TailLogs(log_service_pb2.TailLogsRequest(job_id=job.id), metadata=metadata):
                sys.stdout.write(chunk.data.decode("utf-8", "replace"))
                sys.stdout.flush()

            terminal = {job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELED}
            while True:
                job = jobs.GetJob(job_service_pb2.GetJobRequest(id=job.id), metadata=metadata, timeout=10).job
                if job.state in terminal:
                    break
                time.sleep(0.2)
            state = job_pb2.JobState.Name(job.state)
            exit_code = job.exit_code if job.HasField("exit_code") else "-"
            print("job %s %s (exit code %s)" % (job.id, state, exit_code), file=sys.stderr)
            return 0 if job.state == job_pb2.JOB_STATE_SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
