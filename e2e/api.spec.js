// The promise API itself: values and parameters round trip exactly, bad input is rejected with a precise
// OutpostError, and transactions are isolated from the calls around them.
import { test, expect, count, exec, openDb, query, seed, trySql } from './fixtures.js';

test.describe('values and parameters', () => {
  test('every supported value type round trips through a table', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    // Each value is written with a ? parameter into a typeless column and read back with its storage class.
    const rows = await page.evaluate(async () => {
      const db = window.dbs.vals;
      await db.exec('CREATE TABLE v(id INTEGER PRIMARY KEY, x)');
      const values = [
        null,
        0,
        -1,
        42,
        2 ** 53 - 1,
        -(2 ** 53 - 1),
        3.14159,
        -0.5,
        1e300,
        Infinity,
        '',
        'plain ascii',
        'héllo wörld ✓ 日本語 🚀 Ωμέγα',
        'with\u0000nul',
        new Uint8Array([0, 1, 2, 127, 128, 255]),
        new Uint8Array(0),
        2n ** 62n + 7n,
        -(2n ** 63n),
        2n ** 63n - 1n,
        5n,
        true,
        false,
      ];
      const out = [];
      for (const value of values) {
        const { lastInsertRowId } = await db.exec('INSERT INTO v(x) VALUES (?)', [value]);
        const [row] = await db.query('SELECT x, typeof(x) AS type FROM v WHERE id = ?', [lastInsertRowId]);
        out.push(row);
      }
      return out;
    });
    expect(rows).toEqual([
      { x: null, type: 'null' },
      { x: 0, type: 'integer' },
      { x: -1, type: 'integer' },
      { x: 42, type: 'integer' },
      { x: 2 ** 53 - 1, type: 'integer' },
      { x: -(2 ** 53 - 1), type: 'integer' },
      { x: 3.14159, type: 'real' },
      { x: -0.5, type: 'real' },
      { x: 1e300, type: 'real' },
      { x: Infinity, type: 'real' },
      { x: '', type: 'text' },
      { x: 'plain ascii', type: 'text' },
      { x: 'héllo wörld ✓ 日本語 🚀 Ωμέγα', type: 'text' },
      { x: 'with\u0000nul', type: 'text' },
      { x: new Uint8Array([0, 1, 2, 127, 128, 255]), type: 'blob' },
      { x: new Uint8Array(0), type: 'blob' },
      { x: 2n ** 62n + 7n, type: 'integer' }, // beyond 2^53: back as a bigint, not a rounded number
      { x: -(2n ** 63n), type: 'integer' },
      { x: 2n ** 63n - 1n, type: 'integer' },
      { x: 5, type: 'integer' }, // a small bigint comes back as a plain number
      { x: 1, type: 'integer' }, // booleans are stored as 0/1
      { x: 0, type: 'integer' },
    ]);
  });

  test('bigints are exact in SQL arithmetic and in lastInsertRowId', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    const result = await page.evaluate(async () => {
      const db = window.dbs.vals;
      await db.exec('CREATE TABLE b(id INTEGER PRIMARY KEY, note TEXT)');
      const big = 2n ** 60n + 1n;
      const inserted = await db.exec('INSERT INTO b(id, note) VALUES (?, ?)', [big, 'big id']);
      const next = await db.exec("INSERT INTO b(note) VALUES ('next')");
      const [row] = await db.query('SELECT ? + 1 AS plus, ? * 2 AS twice, max(id) AS maxId FROM b', [big, 2n ** 61n]);
      return { inserted, next, row, exactString: String(row.plus) };
    });
    expect(result.inserted).toEqual({ changes: 1, lastInsertRowId: 2n ** 60n + 1n });
    expect(result.next).toEqual({ changes: 1, lastInsertRowId: 2n ** 60n + 2n });
    expect(result.row).toEqual({ plus: 2n ** 60n + 2n, twice: 2n ** 62n, maxId: 2n ** 60n + 2n });
    expect(result.exactString).toBe('1152921504606846978');
  });

  test('text is stored as UTF-8 with the right character count', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    const s = 'a€😀日';
    expect(await query(page, 'vals', 'SELECT length(?) AS chars, length(CAST(? AS BLOB)) AS bytes, hex(?) AS hex', [s, s, s])).toEqual([
      { chars: 4, bytes: 1 + 3 + 4 + 3, hex: Buffer.from(s, 'utf8').toString('hex').toUpperCase() },
    ]);
  });

  test('a statement with 40 positional parameters of every type binds each one', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'many');
    const row = await page.evaluate(async () => {
      const values = Array.from({ length: 40 }, (_, i) =>
        [null, i, i + 0.5, `s${i}`, BigInt(i) + 2n ** 60n, new Uint8Array([i]), i % 2 === 0][i % 7],
      );
      const sql = `SELECT ${values.map((_, i) => `?${i + 1} AS c${i}`).join(', ')}`;
      const [r] = await window.dbs.many.query(sql, values);
      return Object.values(r).map((v) => (v instanceof Uint8Array ? `blob:${v[0]}` : typeof v === 'bigint' ? `${v}n` : v));
    });
    const expected = Array.from({ length: 40 }, (_, i) =>
      [null, i, i + 0.5, `s${i}`, `${BigInt(i) + 2n ** 60n}n`, `blob:${i}`, i % 2 === 0 ? 1 : 0][i % 7],
    );
    expect(row).toEqual(expected);
  });

  test('positional and named parameters (:a, @b, $c)', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    expect(await query(page, 'vals', 'SELECT ? AS one, ? AS two, ? AS three', [1, 'two', null])).toEqual([
      { one: 1, two: 'two', three: null },
    ]);
    expect(await query(page, 'vals', 'SELECT :a AS a, @b AS b, $c AS c, :a || @b AS ab', { a: 'x', b: 'y', c: 3.5 })).toEqual([
      { a: 'x', b: 'y', c: 3.5, ab: 'xy' },
    ]);
    // Named parameters through exec() into a table, and the same statement reused with other values.
    await exec(page, 'vals', 'CREATE TABLE p(k TEXT PRIMARY KEY, v)');
    for (const [k, v] of [['a', 1], ['b', 'two'], ['c', null]]) {
      expect(await exec(page, 'vals', 'INSERT INTO p(k, v) VALUES ($k, $v)', { k, v })).toMatchObject({ changes: 1 });
    }
    expect(await query(page, 'vals', 'SELECT k, v FROM p ORDER BY k')).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 'two' },
      { k: 'c', v: null },
    ]);
    // No parameters at all is the same as an empty list.
    expect(await query(page, 'vals', 'SELECT 7 AS seven', [])).toEqual([{ seven: 7 }]);
  });

  test('wrong parameter count rejects with SQLITE_RANGE', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    for (const [sql, params] of [
      ['SELECT ?, ?', [1]],
      ['SELECT ?, ?', [1, 2, 3]],
      ['SELECT ?', []],
      ['SELECT ?', undefined],
    ]) {
      for (const method of ['query', 'exec']) {
        const r = await trySql(page, 'vals', method, sql, params);
        expect(r.ok, `${method}(${sql}, ${JSON.stringify(params)})`).toBe(false);
        expect(r.error).toMatchObject({ name: 'OutpostError', code: 'SQLITE_RANGE', sql, isError: true, isOutpostError: true });
      }
    }
  });

  test('unsupported values and parameter shapes reject with INVALID_ARGUMENT', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    const results = await page.evaluate(async () => {
      const db = window.dbs.vals;
      const cases = {
        'plain object value': () => db.query('SELECT ?', [{ x: 1 }]),
        'nested array value': () => db.query('SELECT ?', [[1, 2]]),
        'Date value': () => db.query('SELECT ?', [new Date(0)]),
        'Uint16Array value': () => db.query('SELECT ?', [new Uint16Array(2)]),
        'ArrayBuffer value': () => db.query('SELECT ?', [new ArrayBuffer(2)]),
        'object value in named params': () => db.exec('SELECT :a', { a: { nested: true } }),
        'params as a string': () => db.query('SELECT ?', 'abc'),
        'missing named parameter': () => db.query('SELECT :a, :b', { a: 1 }),
        'named object for ? placeholders': () => db.query('SELECT ?', { a: 1 }),
        'params with several statements': () => db.exec('SELECT ?; SELECT ?', [1]),
        'sql not a string': () => db.query(42),
        'query with two statements': () => db.query('SELECT 1; SELECT 2'),
      };
      const out = {};
      for (const [name, run] of Object.entries(cases)) out[name] = await window.settle(run);
      return out;
    });
    for (const [name, r] of Object.entries(results)) {
      expect(r.ok, name).toBe(false);
      expect(r.error, name).toMatchObject({ name: 'OutpostError', code: 'INVALID_ARGUMENT', isError: true, isOutpostError: true });
    }
    // The database is still fine afterwards.
    expect(await query(page, 'vals', 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  });

  test('values that cannot be structured-cloned (Symbol, function) reject with INVALID_ARGUMENT', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    const results = await page.evaluate(async () => {
      const db = window.dbs.vals;
      return {
        symbol: await window.settle(() => db.query('SELECT ?', [Symbol('s')])),
        fn: await window.settle(() => db.exec('SELECT ?', [() => 1])),
      };
    });
    for (const [name, r] of Object.entries(results)) {
      expect(r.error, name).toMatchObject({ name: 'OutpostError', code: 'INVALID_ARGUMENT', isOutpostError: true });
    }
  });

  test('bigints outside the 64-bit range reject with INVALID_ARGUMENT', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'vals');
    for (const value of ['2n ** 63n', '-(2n ** 63n) - 1n', '2n ** 64n']) {
      const r = await page.evaluate((expr) => window.settle(() => window.dbs.vals.query('SELECT ?', [eval(expr)])), value);
      expect(r.error, value).toMatchObject({ name: 'OutpostError', code: 'INVALID_ARGUMENT', sql: 'SELECT ?' });
    }
  });

  test('invalid database names and options reject with INVALID_ARGUMENT', async ({ app }) => {
    const page = app.page;
    const results = await page.evaluate(async () => {
      const tries = {
        empty: () => window.outpost.open(''),
        'path separator': () => window.outpost.open('a/b'),
        'parent dir': () => window.outpost.open('../escape'),
        'double dot inside': () => window.outpost.open('a..b'),
        'leading dot': () => window.outpost.open('.hidden'),
        space: () => window.outpost.open('my db'),
        'too long': () => window.outpost.open('x'.repeat(101)),
        number: () => window.outpost.open(42),
        undefined: () => window.outpost.open(),
        'bad durability': () => window.outpost.open('ok', { durability: 'maybe' }),
        'bad storage': () => window.outpost.open('ok', { storage: 'cloud' }),
        'bad pool size': () => window.outpost.open('ok', { poolSize: 2 }),
        'bad page size': () => window.outpost.open('ok', { pageSize: 1000 }),
        'bad lock timeout': () => window.outpost.open('ok', { lockTimeoutMs: -1 }),
      };
      const out = {};
      for (const [name, run] of Object.entries(tries)) out[name] = await window.settle(run);
      return out;
    });
    for (const [name, r] of Object.entries(results)) {
      expect(r.ok, name).toBe(false);
      expect(r.error, name).toMatchObject({ name: 'OutpostError', code: 'INVALID_ARGUMENT', isError: true, isOutpostError: true });
    }
    // The longest valid name works, and nothing was created for the rejected ones.
    await openDb(page, 'x'.repeat(100), {}, 'long');
    const dirs = await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const top = await root.getDirectoryHandle('.outpost');
      const names = [];
      for await (const name of top.keys()) names.push(name);
      return names;
    });
    expect(dirs).toEqual(['x'.repeat(100)]);
  });
});

test.describe('errors', () => {
  test('a constraint violation rejects with an OutpostError carrying code and SQL', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'errs');
    await exec(page, 'errs', 'CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0))');
    await exec(page, 'errs', "INSERT INTO u(email, age) VALUES ('a@example.com', 30)");

    const cases = [
      ['exec', "INSERT INTO u(email, age) VALUES ('a@example.com', 31)", undefined, /UNIQUE constraint failed: u\.email/],
      ['exec', 'INSERT INTO u(email, age) VALUES (?, ?)', [null, 1], /NOT NULL constraint failed: u\.email/],
      ['query', 'INSERT INTO u(email, age) VALUES (:e, :a) RETURNING id', { e: 'b@example.com', a: -1 }, /CHECK constraint failed/],
      ['exec', 'INSERT INTO u(id, email) VALUES (1, ?)', ['c@example.com'], /UNIQUE constraint failed: u\.id/],
    ];
    for (const [method, sql, params, message] of cases) {
      const r = await trySql(page, 'errs', method, sql, params);
      expect(r.ok, sql).toBe(false);
      expect(r.error, sql).toMatchObject({ name: 'OutpostError', code: 'SQLITE_CONSTRAINT', sql, isError: true, isOutpostError: true });
      expect(r.error.message).toMatch(message);
      expect(r.error.sqliteCode & 0xff, 'primary result code').toBe(19);
    }

    // The error object itself, checked in the page: a real Error subclass with a stack.
    const shape = await page.evaluate(async () => {
      const sql = "INSERT INTO u(email) VALUES ('a@example.com')";
      try {
        await window.dbs.errs.exec(sql);
        return null;
      } catch (e) {
        return {
          instanceOfError: e instanceof Error,
          instanceOfOutpostError: e instanceof window.outpost.OutpostError,
          protoName: Object.getPrototypeOf(e).constructor.name,
          name: e.name,
          code: e.code,
          sqlMatches: e.sql === sql,
          hasStack: typeof e.stack === 'string' && e.stack.length > 0,
          toStringStart: String(e).startsWith('OutpostError: UNIQUE constraint failed'),
        };
      }
    });
    expect(shape).toEqual({
      instanceOfError: true,
      instanceOfOutpostError: true,
      protoName: 'OutpostError',
      name: 'OutpostError',
      code: 'SQLITE_CONSTRAINT',
      sqlMatches: true,
      hasStack: true,
      toStringStart: true,
    });
    // Failed statements changed nothing.
    expect(await query(page, 'errs', 'SELECT id, email, age FROM u')).toEqual([{ id: 1, email: 'a@example.com', age: 30 }]);
  });

  test('a syntax error rejects with SQLITE_ERROR and the SQL', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'errs');
    const r = await trySql(page, 'errs', 'query', 'SELEC 1');
    expect(r.error).toMatchObject({ name: 'OutpostError', code: 'SQLITE_ERROR', sql: 'SELEC 1', isOutpostError: true });
    expect(r.error.message).toMatch(/syntax error/);
    const missing = await trySql(page, 'errs', 'exec', 'INSERT INTO nowhere VALUES (1)');
    expect(missing.error).toMatchObject({ code: 'SQLITE_ERROR', sql: 'INSERT INTO nowhere VALUES (1)' });
    expect(missing.error.message).toMatch(/no such table: nowhere/);
  });

  test('a worker that cannot start rejects open() with WORKER_FAILED', async ({ app }) => {
    const r = await app.page.evaluate(() => window.settle(() => window.outpost.open('nope', { workerUrl: '/e2e/fixtures/missing-worker.js' })));
    expect(r.error).toMatchObject({ name: 'OutpostError', code: 'WORKER_FAILED', isOutpostError: true });
  });

  test('calls pending on a worker that died, and later calls, reject with WORKER_FAILED', async ({ app }) => {
    const r = await app.page.evaluate(async () => {
      const db = await window.outpost.open('dies');
      await db.exec('CREATE TABLE t(x)');
      // A transaction that never ends keeps the next call waiting in the worker when it dies.
      db.transaction(() => new Promise(() => {})).catch(() => {});
      const pending = window.settle(db.query('SELECT 1'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      db[Symbol.for('outpost.worker')].terminate();
      const before = await pending;
      const after = await window.settle(db.exec('INSERT INTO t VALUES (1)'));
      const reopened = await window.outpost.open('dies');
      const rows = await reopened.query('SELECT count(*) AS n FROM t');
      await reopened.close();
      return { before: before.error, after: after.error, rows };
    });
    expect(r.before).toMatchObject({ name: 'OutpostError', code: 'WORKER_FAILED' });
    expect(r.after).toMatchObject({ name: 'OutpostError', code: 'WORKER_FAILED' });
    expect(r.rows).toEqual([{ n: 0 }]);
  });

  test('a custom worker that imports Outpost late (dynamic import) still opens', async ({ app }) => {
    const r = await app.page.evaluate(() =>
      window.settle(async () => {
        const db = await window.outpost.open('late', { workerUrl: '/e2e/fixtures/late-worker.js' });
        const rows = await db.query('SELECT 6 * 7 AS answer');
        await db.close();
        return rows;
      }),
    );
    expect(r.value).toEqual([{ answer: 42 }]);
  });

  test('debug() without { testHooks: true } rejects with INVALID_STATE', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'errs');
    const r = await page.evaluate(() => window.settle(() => window.dbs.errs.debug('failWrites', { mode: 'quota' })));
    expect(r.error).toMatchObject({ name: 'OutpostError', code: 'INVALID_STATE' });
  });
});

test.describe('transactions', () => {
  test('a concurrent query waits for the open transaction and then sees its committed result', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 5);

    // Open a transaction whose callback waits on a gate the test controls.
    const insideBefore = await page.evaluate(() => {
      const db = window.dbs.tx;
      let release;
      window.__gate = new Promise((r) => (release = r));
      window.__release = release;
      return new Promise((reached) => {
        window.__txDone = db.transaction(async (tx) => {
          window.__tx = tx;
          await tx.exec("INSERT INTO t(v) VALUES ('in-tx')");
          reached((await tx.query('SELECT count(*) AS n FROM t'))[0].n);
          await window.__gate;
          return 'committed';
        });
      });
    });
    expect(insideBefore).toBe(6);

    // Calls from outside the transaction: a read and a write. They must not run while it is open.
    const whileOpen = await page.evaluate(async () => {
      const db = window.dbs.tx;
      window.__outside = [];
      window.__outsideRead = db.query('SELECT count(*) AS n FROM t').then((rows) => {
        window.__outside.push(['read', rows[0].n]);
        return rows[0].n;
      });
      window.__outsideWrite = db.exec("INSERT INTO t(v) VALUES ('outside')").then((r) => {
        window.__outside.push(['write', r.changes]);
        return r;
      });
      // The worker serves one port in order: by the time this tx call returns it has seen both outside calls.
      const [{ n }] = await window.__tx.query('SELECT count(*) AS n FROM t');
      await window.__tx.exec("INSERT INTO t(v) VALUES ('in-tx-2')");
      return { n, outsideSoFar: window.__outside.slice() };
    });
    expect(whileOpen).toEqual({ n: 6, outsideSoFar: [] });

    const after = await page.evaluate(async () => {
      window.__release();
      const result = await window.__txDone;
      const read = await window.__outsideRead;
      await window.__outsideWrite;
      return { result, read, order: window.__outside };
    });
    // The outside read ran after the commit and saw both rows the transaction wrote, the write came after it.
    expect(after).toEqual({ result: 'committed', read: 7, order: [['read', 7], ['write', 1]] });
    const rows = await query(page, 'tx', 'SELECT v FROM t WHERE id > 5 ORDER BY id');
    expect(rows.map((r) => r.v)).toEqual(['in-tx', 'in-tx-2', 'outside']);
  });

  test('a throwing callback rolls back and rejects with the very same error', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 5);
    const r = await page.evaluate(async () => {
      const db = window.dbs.tx;
      const thrown = new TypeError('boom from the callback');
      let caught;
      try {
        await db.transaction(async (tx) => {
          await tx.exec("INSERT INTO t(v) VALUES ('doomed-1')");
          await tx.exec("UPDATE t SET v = 'changed' WHERE id = 1");
          throw thrown;
        });
      } catch (e) {
        caught = e;
      }
      // A non-Error rejection value is passed through too.
      const plain = await db
        .transaction(async (tx) => {
          await tx.exec("INSERT INTO t(v) VALUES ('doomed-2')");
          throw 'just a string';
        })
        .catch((e) => e);
      // An SQL error inside the callback that the callback lets escape rolls everything back as well.
      const sqlError = await db
        .transaction(async (tx) => {
          await tx.exec("INSERT INTO t(v) VALUES ('doomed-3')");
          await tx.exec('INSERT INTO t(id, v) VALUES (1, ?)', ['duplicate id']);
        })
        .catch((e) => window.describeError(e));
      // A synchronous throw counts the same.
      const sync = await db
        .transaction((tx) => {
          tx.exec("INSERT INTO t(v) VALUES ('doomed-4')").catch(() => {});
          throw new RangeError('sync');
        })
        .catch((e) => e.name);
      return { same: caught === thrown, plain, sqlError, sync };
    });
    expect(r).toEqual({
      same: true,
      plain: 'just a string',
      sqlError: expect.objectContaining({ code: 'SQLITE_CONSTRAINT', sql: 'INSERT INTO t(id, v) VALUES (1, ?)' }),
      sync: 'RangeError',
    });
    // Nothing from any of them is left.
    expect(await query(page, 'tx', 'SELECT id, v FROM t ORDER BY id')).toEqual(
      Array.from({ length: 5 }, (_, i) => ({ id: i + 1, v: `row-${i + 1}` })),
    );
    // And the database takes new transactions.
    await page.evaluate(() => window.dbs.tx.transaction((tx) => tx.exec("INSERT INTO t(v) VALUES ('kept')")));
    expect(await count(page, 'tx', 't')).toBe(6);
  });

  test('using tx after its callback ended rejects with INVALID_STATE', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 2);
    const r = await page.evaluate(async () => {
      const db = window.dbs.tx;
      let committedTx;
      const value = await db.transaction(async (tx) => {
        committedTx = tx;
        await tx.exec("INSERT INTO t(v) VALUES ('ok')");
        return 42;
      });
      let rolledBackTx;
      await db
        .transaction(async (tx) => {
          rolledBackTx = tx;
          throw new Error('abort');
        })
        .catch(() => {});
      return {
        value,
        afterCommitExec: await window.settle(() => committedTx.exec("INSERT INTO t(v) VALUES ('late')")),
        afterCommitQuery: await window.settle(() => committedTx.query('SELECT 1')),
        afterRollbackExec: await window.settle(() => rolledBackTx.exec("INSERT INTO t(v) VALUES ('late')")),
        notAFunction: await window.settle(() => db.transaction('INSERT INTO t(v) VALUES (1)')),
        badMode: await window.settle(() => db.transaction(async () => {}, { mode: 'SOMETIMES' })),
      };
    });
    expect(r.value).toBe(42);
    for (const key of ['afterCommitExec', 'afterCommitQuery', 'afterRollbackExec']) {
      expect(r[key].error, key).toMatchObject({ name: 'OutpostError', code: 'INVALID_STATE', isOutpostError: true });
    }
    expect(r.notAFunction.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(r.badMode.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await query(page, 'tx', 'SELECT v FROM t ORDER BY id')).map((x) => x.v)).toEqual(['row-1', 'row-2', 'ok']);
  });

  test('statements sent without awaiting each other commit together', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 1);
    const r = await page.evaluate(async () => {
      const db = window.dbs.tx;
      const value = await db.transaction((tx) => {
        for (let i = 0; i < 50; i++) tx.exec('INSERT INTO t(v) VALUES (?)', [`p-${i}`]);
        return 'done';
      });
      return { value, rows: await db.query("SELECT count(*) AS n FROM t WHERE v LIKE 'p-%'") };
    });
    expect(r).toEqual({ value: 'done', rows: [{ n: 50 }] });
  });

  test('a transaction whose statements are not awaited is one message each way', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 1);
    const r = await page.evaluate(async () => {
      const db = window.dbs.tx;
      // Count the messages on the facade's port, both ways.
      const { client } = db;
      const send = client.port.postMessage;
      const receive = client.receive;
      let sent = 0;
      let received = 0;
      client.port.postMessage = function (...args) {
        sent++;
        return send.apply(this, args);
      };
      client.receive = function (batch) {
        received++;
        return receive.call(this, batch);
      };
      const counts = {};
      for (const [name, fn] of [
        ['plain', (tx) => { tx.exec("INSERT INTO t(v) VALUES ('m-1')"); tx.exec("INSERT INTO t(v) VALUES ('m-2')"); }],
        ['async', async (tx) => { tx.exec("INSERT INTO t(v) VALUES ('m-3')"); tx.exec("INSERT INTO t(v) VALUES ('m-4')"); }],
        ['awaited', async (tx) => { await tx.exec("INSERT INTO t(v) VALUES ('m-5')"); await tx.exec("INSERT INTO t(v) VALUES ('m-6')"); }],
      ]) {
        sent = received = 0;
        await db.transaction(fn);
        counts[name] = { sent, received };
      }
      client.port.postMessage = send;
      client.receive = receive;
      return { counts, rows: await db.query("SELECT count(*) AS n FROM t WHERE v LIKE 'm-%'") };
    });
    expect(r.counts.plain).toEqual({ sent: 1, received: 1 });
    expect(r.counts.async).toEqual({ sent: 1, received: 1 });
    // Awaited statements need their answers: BEGIN travels with the first, then the second, then COMMIT.
    expect(r.counts.awaited).toEqual({ sent: 3, received: 3 });
    expect(r.rows).toEqual([{ n: 6 }]);
  });

  test('a failed statement aborts the transaction, awaited or not, caught or not', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 2);
    const r = await page.evaluate(async () => {
      const db = window.dbs.tx;
      let later = null;
      // Not awaited: the duplicate id fails in the middle, the statement after it is refused.
      const pipelined = await db
        .transaction((tx) => {
          tx.exec("INSERT INTO t(v) VALUES ('a-1')");
          tx.exec('INSERT INTO t(id, v) VALUES (1, ?)', ['duplicate id']);
          tx.exec("INSERT INTO t(v) VALUES ('a-3')").catch((e) => (later = window.describeError(e)));
        })
        .catch((e) => window.describeError(e));
      // Awaited and caught by the callback: the transaction still cannot commit.
      const caught = await db
        .transaction(async (tx) => {
          await tx.exec("INSERT INTO t(v) VALUES ('b-1')");
          await tx.exec('INSERT INTO t(id, v) VALUES (2, ?)', ['duplicate id']).catch(() => {});
          return 'callback finished';
        })
        .catch((e) => window.describeError(e));
      const rows = await db.query("SELECT count(*) AS n FROM t WHERE v LIKE 'a-%' OR v LIKE 'b-%'");
      await db.transaction((tx) => tx.exec("INSERT INTO t(v) VALUES ('after')"));
      return { pipelined, later, caught, rows, after: await db.query("SELECT count(*) AS n FROM t WHERE v = 'after'") };
    });
    for (const e of [r.pipelined, r.caught]) {
      expect(e).toMatchObject({ name: 'OutpostError', code: 'SQLITE_CONSTRAINT' });
      expect(e.sql).toMatch(/INSERT INTO t\(id, v\)/);
    }
    expect(r.later).toMatchObject({ name: 'OutpostError', code: 'SQLITE_CONSTRAINT' });
    expect(r.later.message).toMatch(/rolled back because an earlier statement/);
    expect(r.rows).toEqual([{ n: 0 }]);
    expect(r.after).toEqual([{ n: 1 }]);
  });

  test('transactions started together run one after the other, with plain calls between them', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 1);
    const r = await page.evaluate(async () => {
      const db = window.dbs.tx;
      const started = [];
      for (let k = 0; k < 5; k++) {
        // Not awaited: all five transactions and the plain inserts are in flight at once.
        started.push(
          db.transaction((tx) => {
            tx.exec('INSERT INTO t(v) VALUES (?)', [`tx${k}-a`]);
            tx.exec('INSERT INTO t(v) VALUES (?)', [`tx${k}-b`]);
            return k;
          }),
        );
        started.push(db.exec('INSERT INTO t(v) VALUES (?)', [`plain-${k}`]).then(() => `plain-${k}`));
      }
      const results = await Promise.all(started);
      return { results, rows: (await db.query('SELECT v FROM t WHERE id > 1 ORDER BY id')).map((x) => x.v) };
    });
    expect(r.results).toEqual([0, 'plain-0', 1, 'plain-1', 2, 'plain-2', 3, 'plain-3', 4, 'plain-4']);
    expect(r.rows).toHaveLength(15);
    // Each transaction's two rows are adjacent: nothing interleaved with an open transaction.
    for (let k = 0; k < 5; k++) expect(r.rows.indexOf(`tx${k}-b`)).toBe(r.rows.indexOf(`tx${k}-a`) + 1);
  });

  test('transaction modes DEFERRED, IMMEDIATE and EXCLUSIVE all commit', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'tx');
    await seed(page, 'tx', 1);
    const results = await page.evaluate(async () => {
      const db = window.dbs.tx;
      const out = [];
      for (const mode of ['DEFERRED', 'IMMEDIATE', 'EXCLUSIVE']) {
        out.push(await db.transaction(async (tx) => (await tx.exec('INSERT INTO t(v) VALUES (?)', [mode])).changes, { mode }));
      }
      return out;
    });
    expect(results).toEqual([1, 1, 1]);
    expect((await query(page, 'tx', 'SELECT v FROM t WHERE id > 1 ORDER BY id')).map((x) => x.v)).toEqual([
      'DEFERRED',
      'IMMEDIATE',
      'EXCLUSIVE',
    ]);
  });
});
