"""Peak memory of one CPU evaluation of a large elementwise problem (reference passthrough):
``python evals/eval_memory_peak.py ROWS`` (input: ROWS x 1024 fp32)."""
import resource
import sys
import time

sys.path.insert(0, '.')
from tests.support import ELEMENTWISE
from tools.evaluator import EvalOptions, api
from tools.hardware import load_target
from tools.records import Candidate, Problem

rows = int(sys.argv[1])
src = ELEMENTWISE.format(rows=rows)
p = Problem(name='relu', source=src)
c = Candidate(id='passthrough', language='pytorch', source=src.replace('class Model(', 'class ModelNew('))
t0=time.time()
r = api.evaluate(p, c, load_target('cpu'), EvalOptions(work_dir='/tmp/memprobe_work', measure_compile=False, rep_ms=20.0, timeout_s=900.0))
print('accepted', r.accepted, r.error[:300] if r.error else '', 'peak', r.peak_memory_bytes, 'time', time.time()-t0)
print('child maxrss GB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1e6, 'input GB', rows*1024*4/1e9)
