"""Stop 27: is the validation gemv multithreaded at these sizes? CPU ticks of the other threads over 20,000 gemvs."""
import numpy as np, os, time
w = np.full(784, 2.0**-64, np.float32)
def thread_times():
    out = {}
    for t in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{t}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        out[t] = int(parts[11]) + int(parts[12])
    return out
main = str(os.getpid())
for rows in (1, 8, 11, 12, 16, 32, 64, 256):
    x = np.random.rand(rows, 784).astype(np.float32)
    x.dot(w)
    before = thread_times()
    t0 = time.perf_counter()
    for _ in range(20000): x.dot(w)
    dt = (time.perf_counter() - t0) / 20000
    after = thread_times()
    others = sum(after[t] - before.get(t, 0) for t in after if t != main)
    print(f"rows {rows:4d} ({rows*784:6d} el): {dt*1e6:6.2f} us/gemv, worker-thread ticks {others}, main ticks {after[main]-before[main]}")
