// A node:test reporter for scripts/run-tests.mjs: one JSON line per skipped
// test or suite (file, name, reason) so the runner can list them after the
// run, and a last line with the counts of tests passed, failed and skipped,
// which the runner prints as the run's closing line. A passing suite is not
// a test; a skipped suite counts as one skipped test (node reports none of
// its tests), and a failed suite or file as a failure, so the closing line
// never says "0 failed" about a run where a hook or a whole file failed.
export default async function* skipReporter(source) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, name, file, nesting, details } = event.data;
    const skipped = skip !== undefined && skip !== false;
    if (skipped) {
      yield `${JSON.stringify({ kind: 'skip', file, name, nesting, reason: skip === true ? '' : String(skip) })}\n`;
    }
    if (skipped) counts.skipped += 1;
    else if (event.type === 'test:fail') counts.failed += 1;
    else if (details?.type !== 'suite') counts.passed += 1;
  }
  yield `${JSON.stringify({ kind: 'counts', ...counts })}\n`;
}
