// Peer benchmark: fhirpath.js (npm `fhirpath`, compiled expressions, R4 model) over cases.json.
// Prints one JSON object per line: {engine, name, evals_per_sec, result}.
// Usage: node bench_fhirpath_js.js <input-json dir> [seconds per case]
const fs = require('fs');
const path = require('path');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

const inputDir = process.argv[2];
const seconds = Number(process.argv[3] || 1);
const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'cases.json'), 'utf8')).cases;
const load = (n) => JSON.parse(fs.readFileSync(path.join(inputDir, n + '.json'), 'utf8'));
const inputs = {};
for (const n of ['patient-example', 'observation-example', 'questionnaire-example', 'valueset-example-expansion']) {
  inputs[n] = load(n);
}
inputs.bundle = {
  resourceType: 'Bundle', type: 'collection',
  entry: [
    { fullUrl: 'http://example.org/fhir/Patient/example', resource: load('patient-example') },
    { fullUrl: 'http://example.org/fhir/Observation/example', resource: load('observation-example') },
  ],
};

for (const c of cases) {
  const resource = inputs[c.input];
  let out;
  try {
    const fn = fhirpath.compile(c.expression, r4);
    const result = fn(resource, {});
    let n = 0;
    const start = process.hrtime.bigint();
    const budget = BigInt(Math.round(seconds * 1e9));
    let elapsed = 0n;
    while (elapsed < budget) {
      for (let i = 0; i < 100; i++) fn(resource, {});
      n += 100;
      elapsed = process.hrtime.bigint() - start;
    }
    out = { engine: 'fhirpath.js', name: c.name, evals_per_sec: n / (Number(elapsed) / 1e9), result: JSON.parse(JSON.stringify(result)) };
  } catch (e) {
    out = { engine: 'fhirpath.js', name: c.name, evals_per_sec: null, error: String(e && e.message || e) };
  }
  console.log(JSON.stringify(out));
}
