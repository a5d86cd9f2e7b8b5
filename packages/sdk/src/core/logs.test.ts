import { Writable } from 'node:stream';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { Client, FetchLike } from '../client.js';
import { ArgumentError } from '../errors.js';
import { inProcessMaster, recordingFetch } from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import { init } from './init.js';
import type { CoreInitOptions } from './init.js';
import type { TaskLogEntry } from './log-shipper.js';

interface TrialLogDto {
  log: string;
  stdtype?: string;
}

async function trialLogs(client: Client, trialId: number): Promise<TrialLogDto[]> {
  const out: TrialLogDto[] = [];
  for await (const entry of client.stream<TrialLogDto>(`/api/v1/trials/${trialId}/logs`)) {
    out.push(entry);
  }
  return out;
}

/** A real stream that keeps what reaches it: the "terminal" the tee must not starve. */
function terminal(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('task logs', () => {
  let m: TestMaster;
  let out: ReturnType<typeof terminal>;
  let err: ReturnType<typeof terminal>;
  beforeEach(async () => {
    m = await inProcessMaster();
    out = terminal();
    err = terminal();
  });
  afterEach(async () => {
    await m.close();
  });

  const options = (extra: Partial<CoreInitOptions> = {}): CoreInitOptions => ({
    master: m.url,
    fetch: m.fetch,
    env: m.env,
    closeOnExit: false,
    outputStreams: { stdout: out.stream, stderr: err.stream },
    // Only close() flushes, unless a test says otherwise.
    logFlushIntervalMs: 3600_000,
    config: { searcher: { metric: 'loss' }, checkpoint_storage: join(m.dir, 'ckpts') },
    ...extra,
  });

  it('tees stdout and stderr into the trial logs, line by line, and flushes on close', async () => {
    const core = await init(options());
    out.stream.write('hello\nwor');
    out.stream.write(Buffer.from('ld\n'));
    // A UTF-8 character split across writes.
    const e = Buffer.from('é\n');
    err.stream.write(e.subarray(0, 1));
    err.stream.write(e.subarray(1));
    err.stream.write('68690a', 'hex');
    out.stream.write('no newline at the end');
    await core.close();
    out.stream.write('after close\n');

    expect(out.text()).toBe('hello\nworld\nno newline at the endafter close\n');
    expect(err.text()).toBe('é\nhi\n');
    const logs = await trialLogs(core.client, core.info.trialId);
    expect(logs.map((l) => [l.stdtype, l.log])).toEqual([
      ['stdout', 'hello\n'],
      ['stdout', 'world\n'],
      ['stderr', 'é\n'],
      ['stderr', 'hi\n'],
      ['stdout', 'no newline at the end\n'],
    ]);
  });

  it('posts batches on the flush interval in the wire shape of Determined', async () => {
    const rec = recordingFetch(m.fetch);
    const clock = Date.parse('2024-05-06T07:08:09.010Z');
    const core = await init(options({ fetch: rec.fetch, logFlushIntervalMs: 5, now: () => clock }));
    out.stream.write('first\n');
    await rec.waitFor(1, (c) => c.path === '/task-logs');
    out.stream.write('second\n');
    await rec.waitFor(2, (c) => c.path === '/task-logs');
    const posts = rec.calls.filter((c) => c.path === '/task-logs');
    expect(posts.map((c) => [c.method, c.status, c.body])).toEqual([
      [
        'POST',
        200,
        [
          {
            task_id: core.info.taskId,
            timestamp: '2024-05-06T07:08:09.010Z',
            rank: '0',
            log: 'first\n',
            stdtype: 'stdout',
          },
        ],
      ],
      ['POST', 200, [expect.objectContaining({ log: 'second\n' }) as unknown]],
    ]);
    await core.close();
  });

  it('sends explicit lines with core.log at a level, without printing them', async () => {
    const rec = recordingFetch(m.fetch);
    const core = await init(options({ fetch: rec.fetch }));
    core.log('epoch 1 done');
    core.log('two\nlines\n', 'warning');
    expect(() => core.log('x', 'loud' as 'info')).toThrow(ArgumentError);
    await core.close();
    expect(() => core.log('late')).toThrow(/closed/);
    expect(out.text() + err.text()).toBe('');
    const sent = rec.calls
      .filter((c) => c.path === '/task-logs')
      .flatMap((c) => c.body as TaskLogEntry[]);
    expect(sent.map((e) => [e.log, e.level, e.stdtype])).toEqual([
      ['epoch 1 done\n', 'LOG_LEVEL_INFO', undefined],
      ['two\n', 'LOG_LEVEL_WARNING', undefined],
      ['lines\n', 'LOG_LEVEL_WARNING', undefined],
    ]);
    const logs = await trialLogs(core.client, core.info.trialId);
    expect(logs.map((l) => l.log)).toEqual(['epoch 1 done\n', 'two\n', 'lines\n']);
  });

  it('ships nothing but the tee when shipOutput is false', async () => {
    const rec = recordingFetch(m.fetch);
    const core = await init(options({ fetch: rec.fetch, shipOutput: false }));
    out.stream.write('not shipped\n');
    await core.close();
    expect(out.text()).toBe('not shipped\n');
    expect(rec.calls.some((c) => c.path === '/task-logs')).toBe(false);
  });

  it('cuts a line that never ends into 64 KiB pieces', async () => {
    const core = await init(options());
    out.stream.write('x'.repeat(64 * 1024 * 2 + 10));
    await core.close();
    const logs = await trialLogs(core.client, core.info.trialId);
    expect(logs.map((l) => l.log.length)).toEqual([64 * 1024 + 1, 64 * 1024 + 1, 11]);
  });

  it('keeps a bounded buffer while the master is unreachable, then says how much it dropped', async () => {
    let isDown = true;
    let failedPosts = 0;
    let onThirdFailure: () => void = () => undefined;
    const threeFailures = new Promise<void>((resolve) => (onThirdFailure = resolve));
    const flaky: FetchLike = async (input, init) => {
      if (isDown && new URL(input).pathname === '/task-logs') {
        failedPosts += 1;
        if (failedPosts === 3) {
          onThirdFailure();
        }
        throw new TypeError('fetch failed');
      }
      return m.fetch(input, init);
    };
    const warnings: string[] = [];
    const core = await init(
      options({
        fetch: flaky,
        retry: { attempts: 1 },
        logFlushIntervalMs: 2,
        // Room for 10 lines of 8 characters (16 bytes each, plus 160 of overhead).
        logBufferBytes: 10 * 176,
        logger: { warn: (message) => warnings.push(message) },
      }),
    );
    for (let i = 0; i < 50; i += 1) {
      out.stream.write(`line ${String(i).padStart(2, '0')}\n`);
    }
    await threeFailures;
    // Output keeps flowing to the terminal while the master is away.
    expect(out.text().split('\n')).toHaveLength(51);
    isDown = false;
    await core.close();

    const logs = (await trialLogs(core.client, core.info.trialId)).map((l) => l.log);
    expect(logs).toEqual([
      '[determined-ts] 40 log lines were dropped: the master could not take them\n',
      ...Array.from({ length: 10 }, (_, i) => `line ${40 + i}\n`),
    ]);
    // One warning per outage, not one per attempt.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^cannot ship task logs .*fetch failed/);
  });

  it('lets several contexts tee one stream and stop in any order', async () => {
    const a = await init(options());
    const b = await init(options());
    out.stream.write('both\n');
    await a.close();
    out.stream.write('only b\n');
    await b.close();
    out.stream.write('none\n');
    expect(out.text()).toBe('both\nonly b\nnone\n');
    // Unwrapped again: write is the prototype's, as before.
    expect(Object.hasOwn(out.stream, 'write')).toBe(false);
    expect((await trialLogs(a.client, a.info.trialId)).map((l) => l.log)).toEqual(['both\n']);
    expect((await trialLogs(b.client, b.info.trialId)).map((l) => l.log)).toEqual([
      'both\n',
      'only b\n',
    ]);
  });
});
