'use strict'

// The running stack through the Node binding (freya-node/src/stack.rs): real sockets on
// 127.0.0.1, no mocks. The stack dials itself through trunk "self": numbers under +1415 reach
// the built-in echo agents, every other number is refused with 404 (no route). Each wait is
// bounded; a stack left running would keep `node --test` from ending, so the last test checks
// in a child process that a shut-down stack lets Node exit.

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { Stack } = require('..')

// A port p < 60000 such that p .. p+n-1 can be bound now (as free_base in examples/tests).
async function freeBase(n) {
  const listen = (port) =>
    new Promise((resolve) => {
      const srv = net.createServer()
      srv.once('error', () => resolve(null))
      srv.listen(port, '127.0.0.1', () => resolve(srv))
    })
  for (;;) {
    const first = await listen(0)
    const p = first.address().port
    first.close()
    if (p >= 60000) continue
    const held = []
    let ok = true
    for (let i = 0; i < n && ok; i++) {
      const srv = await listen(p + i)
      if (srv) held.push(srv)
      else ok = false
    }
    held.forEach((s) => s.close())
    if (ok) return p
  }
}

// examples/tests/stack_campaign.rs's self_dialing_config, without the control API.
async function selfDialingConfig() {
  const sip = await freeBase(1)
  const rtp = 2 * Math.min(Math.floor((await freeBase(1)) / 2), 30000)
  const agents = await freeBase(8)
  return `
[sip]
bind = "127.0.0.1:${sip}"
t1_ms = 100
[[trunks]]
name = "self"
match = ["127.0.0.0/8"]
host = "127.0.0.1:${sip}"
[media]
address = "127.0.0.1"
rtp_port_start = ${rtp}
rtp_port_end = ${rtp + 2 * 40 - 1}
[[agents]]
name = "echo"
slots = 8
base_port = ${agents}
url = "ws://127.0.0.1:{port}/telephony/ws"
protocol = "twilio"
builtin_echo = true
busy = { status = 503 }
[[routes]]
name = "sales"
called = "+1415*"
agents = "echo"
`
}

// Every event the stack sends, and a way to wait (bounded) for one matching `pred`.
function recorder(stack) {
  const seen = []
  const waiters = []
  stack.onEvent((e) => {
    seen.push(e)
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1)
        clearTimeout(w.timer)
        w.resolve(e)
      }
    }
  })
  const next = (what, pred, ms = 20000) => {
    const already = seen.find(pred)
    if (already) return Promise.resolve(already)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve }
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1)
        reject(new Error(`no ${what} within ${ms} ms; saw ${JSON.stringify(seen, null, 1)}`))
      }, ms)
      waiters.push(w)
    })
  }
  return { seen, next }
}

test('a bad config rejects with ERR_FREYA_CONFIG and the Rust message', async () => {
  await assert.rejects(Stack.start('[sip]\nbind = "127.0.0.1:0"\nbogus_key = 1\n'), (err) => {
    assert.ok(err instanceof Error)
    assert.equal(err.code, 'ERR_FREYA_CONFIG')
    assert.match(err.message, /bogus_key/)
    return true
  })
  await assert.rejects(Stack.start('[sip'), { code: 'ERR_FREYA_CONFIG', message: /TOML parse error/ })
})

test('campaign breaker, refused list, originate and hangup on a self-dialing stack', { timeout: 90000 }, async () => {
  const stack = await Stack.start(await selfDialingConfig())
  try {
    assert.match(stack.sipAddress, /^127\.0\.0\.1:\d+$/)
    const ev = recorder(stack)
    assert.deepEqual(stack.calls(), [])
    assert.deepEqual(stack.campaigns(), [])

    // 10 numbers no route takes: each call is refused with 404, a number error; the 8th
    // trips the wrong-prefix breaker and the campaign pauses itself.
    const numbers = Array.from({ length: 10 }, (_, i) => `+1999555000${i}`)
    const info = stack.startCampaign({
      name: 'wrong prefix',
      numbers,
      trunk: 'self',
      calls_per_second: 20,
      burst: 2,
      max_concurrent: 2,
    })
    const id = info.campaign_id
    assert.match(id, /^cmp-/)
    assert.equal(info.total, 10)
    assert.equal(info.name, 'wrong prefix')
    assert.deepEqual(info.numbers.map((n) => n.number), numbers)

    const isCampaign = (state) => (e) => e.event === 'campaign' && e.call_id === id && e.state === state
    await ev.next('campaign started', isCampaign('started'))
    const paused = await ev.next('campaign paused', isCampaign('paused'), 30000)
    assert.match(paused.reason, /number error/)
    assert.ok(paused.number_failures >= 8, JSON.stringify(paused))
    assert.ok(paused.dialed >= 8 && paused.dialed <= 10, JSON.stringify(paused))
    const now = stack.campaign(id)
    assert.equal(now.state, 'paused')
    assert.ok(now.number_failures >= 8, JSON.stringify(now))
    assert.match(now.paused_reason, /number error/)

    // The campaign's calls: started outbound with its X-Freya-Campaign-Id, ended with 404.
    const campaignCalls = new Set(now.numbers.map((n) => n.call_id).filter(Boolean))
    assert.ok(campaignCalls.size >= 8, JSON.stringify(now.numbers))
    const started = ev.seen.filter(
      (e) =>
        e.event === 'started' &&
        e.direction === 'outbound' &&
        e.headers.some(([n, v]) => n === 'X-Freya-Campaign-Id' && v === id),
    )
    assert.ok(started.length >= 8, JSON.stringify(ev.seen))
    // The hangup event of each failed call may come just after the pause; wait for them all.
    for (const r of now.numbers.filter((n) => n.outcome === 'failed')) {
      assert.equal(r.sip_code, 404, JSON.stringify(r))
      const hangup = await ev.next(`hangup of ${r.call_id}`, (e) => e.event === 'hangup' && e.call_id === r.call_id)
      assert.equal(hangup.sip_code, 404, JSON.stringify(hangup))
      assert.equal(typeof hangup.q850_text, 'string')
    }
    const hangups404 = ev.seen.filter((e) => e.event === 'hangup' && e.sip_code === 404 && campaignCalls.has(e.call_id))
    assert.ok(hangups404.length >= 8, JSON.stringify(ev.seen))

    // A list with a bad entry is refused whole, entry by entry: nothing is started.
    assert.throws(
      () => stack.startCampaign({ numbers: ['+1415555O100'], trunk: 'self' }),
      (err) => {
        assert.ok(err instanceof Error)
        assert.equal(err.code, 'ERR_FREYA_CAMPAIGN')
        assert.equal(err.kind, 'invalid_numbers')
        assert.equal(err.rejected.length, 1)
        assert.equal(err.rejected[0].line, 1)
        assert.equal(err.rejected[0].value, '+1415555O100')
        assert.equal(err.rejected[0].reason.kind, 'bad_character')
        assert.match(err.message, /line 1/)
        return true
      },
    )
    assert.equal(stack.campaigns().length, 1)
    // A bad request object is a TypeError naming the key.
    assert.throws(() => stack.startCampaign({ numbers: ['+14155550100'], max_concurent: 2 }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /max_concurent/,
    })
    // A value of the wrong type, nested: the message names where it sits.
    assert.throws(
      () => stack.startCampaign({ numbers: ['+14155550100'], breaker: { failures: 8, window: 'ten' } }),
      { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /breaker\.window: invalid type: string "ten"/ },
    )

    // An outbound call to a number under +1415 through "self": answered by an echo agent.
    const callId = await stack.originate({ to: '+14155550100', trunk: 'self', workflow_id: 'wf-node' })
    assert.match(callId, /^[0-9a-f-]{36}$/)
    const startedCall = await ev.next('started', (e) => e.event === 'started' && e.call_id === callId)
    assert.equal(startedCall.direction, 'outbound')
    assert.equal(startedCall.workflow_id, 'wf-node')
    await ev.next('answered', (e) => e.event === 'answered' && e.call_id === callId)
    // A transfer: the stack's own inbound leg is the peer, and answers REFER 405 (it takes
    // no transfers): refused with that status, and the call stays up.
    await assert.rejects(stack.transfer('no-such-call', { to: '+1' }), { code: 'ERR_FREYA_NO_SUCH_CALL' })
    await assert.rejects(stack.transfer(callId, { to: 'desk' }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /"desk"/,
    })
    const target = await stack.transfer(callId, { to: '+14155550199' })
    assert.match(target, /^sip:\+14155550199@127\.0\.0\.1:\d+$/)
    const isTransfer = (state) => (e) => e.event === 'transfer' && e.call_id === callId && e.state === state
    const requested = await ev.next('transfer requested', isTransfer('requested'))
    assert.equal(requested.target, target)
    const refused = await ev.next('transfer refused', isTransfer('refused'))
    assert.deepEqual([refused.sip_code, refused.reason], [405, 'Method Not Allowed'])
    // Keys toward the callee (the stack's own inbound leg, RFC 4733): its dtmf events.
    await assert.rejects(stack.sendDtmf(callId, { digits: '1x' }), { name: 'TypeError', message: /'x'/ })
    await stack.sendDtmf(callId, { digits: '42', duration_ms: 80 })
    const keys = []
    for (const want of ['4', '2']) {
      const e = await ev.next(`dtmf ${want}`, (e) => e.event === 'dtmf' && e.call_id !== callId && e.digit === want)
      keys.push([e.digit, e.via])
    }
    assert.deepEqual(keys, [['4', 'rfc4733'], ['2', 'rfc4733']])
    const summary = stack.calls().find((c) => c.call_id === callId)
    assert.ok(summary, JSON.stringify(stack.calls()))
    assert.equal(summary.direction, 'outbound')
    assert.equal(summary.state, 'answered')
    stack.hangup(callId, 16)
    const hangup = await ev.next('hangup', (e) => e.event === 'hangup' && e.call_id === callId)
    assert.equal(hangup.hangup_by, 'local')
    assert.equal(hangup.q850_cause, 16)
    assert.equal(hangup.q850_text, 'Normal call clearing')
    assert.throws(() => stack.hangup(callId), { code: 'ERR_FREYA_NO_SUCH_CALL', message: new RegExp(callId) })
    // The cause is checked before the call is looked up, in the API's words.
    for (const bad of [0, 128, 70000, -1]) {
      assert.throws(() => stack.hangup(callId, bad), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_VALUE',
        message: `hangup: q850_cause: ${bad} is not a Q.850 cause (1-127)`,
      })
    }

    // Cancel the paused campaign; then it has ended and cannot be paused.
    stack.cancelCampaign(id)
    await ev.next('campaign cancelled', isCampaign('cancelled'))
    assert.equal(stack.campaign(id).state, 'cancelled')
    assert.throws(() => stack.pauseCampaign(id), { code: 'ERR_FREYA_CAMPAIGN', kind: 'ended' })
    assert.throws(() => stack.campaign('cmp-nope'), { code: 'ERR_FREYA_CAMPAIGN', kind: 'no_such_campaign' })
  } finally {
    await stack.shutdown()
  }
  assert.throws(() => stack.onEvent(() => {}), { code: 'ERR_FREYA_CLOSED' })
})

test('a shut-down stack with an onEvent callback lets Node exit', { timeout: 30000 }, async () => {
  const addon = path.join(__dirname, '..')
  const script = `
    const { Stack } = require(${JSON.stringify(addon)})
    Stack.start(${JSON.stringify(await selfDialingConfig())}).then(async (s) => {
      s.onEvent(() => {})
      await s.shutdown()
      console.log('shut down')
    })
  `
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 20000, encoding: 'utf8' })
  assert.equal(child.error, undefined, `the child did not exit: ${child.error}`)
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'shut down')
})

test('a running stack with an onEvent callback keeps Node running', { timeout: 30000 }, async () => {
  // The counterpart of the test above: without shutdown() the child is still alive at the
  // timeout, so the exit above is shutdown's doing.
  const addon = path.join(__dirname, '..')
  const script = `
    const { Stack } = require(${JSON.stringify(addon)})
    Stack.start(${JSON.stringify(await selfDialingConfig())}).then((s) => { s.onEvent(() => {}); console.log('running') })
  `
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 3000, killSignal: 'SIGKILL', encoding: 'utf8' })
  assert.equal(child.stdout.trim(), 'running', child.stderr)
  assert.equal(child.signal, 'SIGKILL', 'the child exited on its own while its stack ran')
})
