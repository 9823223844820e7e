"""Reads an mmoe-stream snapshot with numpy alone (no safetensors package, no project code).

Usage: read_snapshot.py FILE
Prints one line of metadata (format, kind, version) and, per tensor, "name dtype shape values",
every element in row-major order of its shape as a hexadecimal float (exact), so a test can compare
each element with the Java writer.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        arr = np.frombuffer(data[base + begin:base + end], dtype=np.dtype(DTYPES[t["dtype"]]).newbyteorder("<"))
        tensors[name] = arr.reshape(t["shape"])
    return meta, tensors


def main():
    meta, tensors = read(sys.argv[1])
    spec = json.loads(meta["spec"])
    print("meta", meta["format"], meta["kind"], meta["version"], len(spec["tasks"]))
    for name in sorted(tensors):
        t = tensors[name]
        values = ",".join(float(v).hex() for v in np.nditer(t, order="C"))
        print(name, t.dtype, "x".join(str(d) for d in t.shape), values)


if __name__ == "__main__":
    main()
