'use strict'

// Tests of parseMessage through the Node binding (freya-node). Run with `node --test __test__/`.

const test = require('node:test')
const assert = require('node:assert/strict')

const { parseMessage, Message } = require('..')

const SDP = Buffer.from(
  [
    'v=0',
    'o=- 3868 3868 IN IP4 203.0.113.10',
    's=-',
    'c=IN IP4 203.0.113.10',
    't=0 0',
    'm=audio 10000 RTP/AVP 0 8 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n'),
)

// The headers of a carrier INVITE, [name, value] exactly as sent: odd name case, X- headers
// (ours and the carrier's), UTF-8 in display names and X- values.
const INVITE_HEADERS = [
  ['Via', 'SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-1---7f1d;rport'],
  ['Via', 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds;received=198.51.100.7'],
  ['Max-Forwards', '69'],
  ['From', '"Zoë Çelik" <sip:+905321234567@carrier.example.com;user=phone>;tag=8a7f6c'],
  ['To', '<sip:+4930123456@trunk.example.net;user=phone>'],
  ['Call-ID', '4f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098@203.0.113.10'],
  ['CSeq', '102 INVITE'],
  ['Contact', '<sip:+905321234567@203.0.113.10:5060;transport=udp>'],
  ['P-Asserted-Identity', '"Zoë Çelik" <sip:+905321234567@carrier.example.com>'],
  ['x-carrier-trace', 'abc   def  (inner spacing kept)'],
  ['X-Freya-Direction', 'inbound'],
  ['X-Freya-Call-Id', '0b5e1c7e-3d2a-4f43-9c1e-5a8b7c6d5e4f'],
  ['X-Freya-Workflow-Id', 'wf_onboarding-tr'],
  ['X-Customer-Name', 'Şükrü Öztürk'],
  ['X-Note', '日本語のメモ ✓'],
  ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS'],
  ['Supported', 'timer, replaces'],
  ['Content-Type', 'application/sdp'],
  ['Content-Length', String(SDP.length)],
]
const INVITE_URI = 'sip:+4930123456@trunk.example.net;user=phone'

function build(startLine, headers, body = Buffer.alloc(0)) {
  const head = startLine + '\r\n' + headers.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n'
  return Buffer.concat([Buffer.from(head, 'utf8'), body])
}

const INVITE = build(`INVITE ${INVITE_URI} SIP/2.0`, INVITE_HEADERS, SDP)

const BYE_HEADERS = [
  ['Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9'],
  ['Max-Forwards', '70'],
  ['From', '<sip:alice@example.com>;tag=9fxced76sl'],
  ['To', '<sip:bob@example.net>;tag=8321234356'],
  ['Call-ID', '3848276298220188511@example.com'],
  ['CSeq', '2 BYE'],
  ['Content-Length', '0'],
]

function parseError(buf) {
  try {
    parseMessage(buf)
  } catch (err) {
    return err
  }
  assert.fail('parseMessage accepted a message it must refuse')
}

test('INVITE round-trips byte-exact', () => {
  const msg = parseMessage(INVITE)
  assert.ok(msg instanceof Message)
  const out = msg.toBytes()
  assert.ok(Buffer.isBuffer(out))
  assert.ok(out.equals(INVITE))
  assert.equal(msg.isRequest, true)
  assert.equal(msg.method, 'INVITE')
  assert.equal(msg.requestUri, INVITE_URI)
  assert.equal(msg.status, null)
  assert.equal(msg.reason, null)
  assert.ok(Buffer.isBuffer(msg.body))
  assert.ok(msg.body.equals(SDP))
})

test('headers are exact and in order', () => {
  const msg = parseMessage(INVITE)
  assert.deepEqual(msg.headers, INVITE_HEADERS)
})

test('X- headers and UTF-8 values', () => {
  const msg = parseMessage(INVITE)
  assert.equal(msg.header('X-Freya-Direction'), 'inbound')
  assert.equal(msg.header('x-freya-call-id'), '0b5e1c7e-3d2a-4f43-9c1e-5a8b7c6d5e4f')
  assert.equal(msg.header('X-FREYA-WORKFLOW-ID'), 'wf_onboarding-tr')
  assert.equal(msg.header('X-Customer-Name'), 'Şükrü Öztürk')
  assert.equal(msg.header('x-note'), '日本語のメモ ✓')
  assert.equal(msg.header('X-Carrier-Trace'), 'abc   def  (inner spacing kept)')
  assert.ok(msg.header('From').startsWith('"Zoë Çelik"'))
  assert.equal(msg.header('X-Absent'), null)
})

test('the first of repeated headers', () => {
  const msg = parseMessage(INVITE)
  assert.equal(msg.header('via'), INVITE_HEADERS[0][1])
  assert.deepEqual(
    msg.headers.filter(([n]) => n === 'Via').map(([, v]) => v),
    [INVITE_HEADERS[0][1], INVITE_HEADERS[1][1]],
  )
})

test('compact forms', () => {
  const compact = build('BYE sip:bob@192.0.2.4 SIP/2.0', [
    ['v', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnashds7'],
    ['f', '<sip:alice@example.com>;tag=1928301774'],
    ['t', '<sip:bob@example.net>;tag=a6c85cf'],
    ['i', 'a84b4c76e66710@pc33.example.com'],
    ['CSeq', '314160 BYE'],
    ['m', '<sip:alice@192.0.2.1>'],
    ['l', '0'],
  ])
  const msg = parseMessage(compact)
  assert.ok(msg.toBytes().equals(compact))
  assert.equal(msg.header('Call-ID'), 'a84b4c76e66710@pc33.example.com')
  assert.equal(msg.header('call-id'), 'a84b4c76e66710@pc33.example.com')
  assert.equal(msg.header('From'), '<sip:alice@example.com>;tag=1928301774')
  assert.equal(msg.header('To'), '<sip:bob@example.net>;tag=a6c85cf')
  assert.equal(msg.header('Via'), 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnashds7')
  assert.equal(msg.header('Contact'), '<sip:alice@192.0.2.1>')
  assert.equal(msg.header('Content-Length'), '0')
  assert.deepEqual(
    msg.headers.map(([n]) => n),
    ['v', 'f', 't', 'i', 'CSeq', 'm', 'l'],
  )
  const full = parseMessage(INVITE)
  assert.equal(full.header('i'), '4f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098@203.0.113.10')
  assert.equal(full.header('I'), full.header('Call-ID'))
  assert.equal(full.header('c'), 'application/sdp')
  assert.equal(full.header('l'), String(SDP.length))
})

test('a response', () => {
  const data = build('SIP/2.0 180 Ringing', [
    ['Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;received=192.0.2.1'],
    ['From', '<sip:alice@example.com>;tag=9fxced76sl'],
    ['To', '<sip:bob@example.net>;tag=314159'],
    ['Call-ID', '3848276298220188511@example.com'],
    ['CSeq', '1 INVITE'],
    ['Content-Length', '0'],
  ])
  const msg = parseMessage(data)
  assert.equal(msg.isRequest, false)
  assert.equal(msg.status, 180)
  assert.equal(msg.reason, 'Ringing')
  assert.equal(msg.method, null)
  assert.equal(msg.requestUri, null)
  assert.equal(msg.body.length, 0)
  assert.ok(msg.toBytes().equals(data))
})

test('a non-Buffer argument is a TypeError-like throw, not a crash', () => {
  assert.throws(() => parseMessage('INVITE sip:a@b SIP/2.0\r\n\r\n'))
  assert.throws(() => parseMessage(undefined))
})

test('Turkish dotted İ in a header name is a typed error', () => {
  const headers = BYE_HEADERS.slice()
  headers.splice(5, 0, ['X-İd', '1']) // line 7: start line + 5 headers before it
  const data = build('BYE sip:bob@example.net SIP/2.0', headers)
  const err = parseError(data)
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'SipParseError')
  assert.equal(err.code, 'ERR_SIP_PARSE')
  assert.equal(err.kind, 'invalid_header_name')
  assert.equal(err.line, 7)
  assert.equal(err.offset, data.indexOf(Buffer.from('İ', 'utf8')))
  assert.deepEqual([...data.subarray(err.offset, err.offset + 2)], [0xc4, 0xb0])
  assert.equal(err.offending, 'c4b0')
  assert.ok(err.offendingBytes.equals(Buffer.from([0xc4, 0xb0])))
  assert.match(err.message, /c4b0/)
  assert.equal(err.header, 'X-İd')
  assert.ok(err.detail.length > 0 && err.message.includes(err.detail))
  // the essentials are readable, so a 400 with a Warning can go back
  assert.ok(Buffer.isBuffer(err.response))
  const response = err.response.toString('utf8')
  assert.match(response, /^SIP\/2\.0 400 /)
  const head = response.split('\r\n\r\n')[0]
  assert.match(head, /\r\nWarning: /)
  assert.ok(head.includes('\r\nCall-ID: 3848276298220188511@example.com\r\n'))
})

test('an unsupported version gets 505', () => {
  const data = build('INVITE sip:bob@example.net SIP/7.0', [
    ...BYE_HEADERS.slice(0, 5),
    ['CSeq', '1 INVITE'],
    ['Content-Length', '0'],
  ])
  const err = parseError(data)
  assert.equal(err.code, 'ERR_SIP_PARSE')
  assert.equal(err.line, 1)
  assert.ok(Buffer.isBuffer(err.response))
  const response = err.response.toString('utf8')
  assert.match(response, /^SIP\/2\.0 505 /)
  assert.ok(response.includes('\r\nCall-ID: 3848276298220188511@example.com\r\n'))
})

test('a refused response has no response to send', () => {
  const err = parseError(Buffer.from('SIP/2.0 200 OK\r\nX-\u0130d: 1\r\nContent-Length: 0\r\n\r\n', 'utf8'))
  assert.equal(err.kind, 'invalid_header_name')
  assert.equal(err.response, null)
})

test('a folded header is kept byte-exact', () => {
  const data = Buffer.from(
    'OPTIONS sip:carrier.example.com SIP/2.0\r\n' +
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKf0ld\r\n' +
      'From: <sip:alice@example.com>;tag=1\r\n' +
      'To: <sip:carrier.example.com>\r\n' +
      'Call-ID: fold-1@192.0.2.1\r\n' +
      'CSeq: 7 OPTIONS\r\n' +
      "Subject: I know you're there,\r\n" +
      '\tpick up the phone\r\n' +
      'Content-Length: 0\r\n' +
      '\r\n',
  )
  const msg = parseMessage(data)
  assert.ok(msg.toBytes().equals(data))
  // the value is given exactly as received, fold included
  assert.equal(msg.header('subject'), "I know you're there,\r\n\tpick up the phone")
  assert.equal(msg.header('Content-Length'), '0')
})

for (const garbage of ['', '\r\n', 'INVITE', '\u0000\u00ff\u00fe', 'SIP/2.0 999999 X\r\n\r\n']) {
  test(`garbage ${JSON.stringify(garbage)} throws a SipParseError`, () => {
    const err = parseError(Buffer.from(garbage, 'latin1'))
    assert.equal(err.code, 'ERR_SIP_PARSE')
    assert.equal(typeof err.kind, 'string')
    assert.ok(err.kind.length > 0)
  })
}

test('mutated messages never crash', () => {
  let seed = 4475
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  for (let i = 0; i < 3000; i++) {
    const data = Buffer.from(INVITE)
    const edits = 1 + rand(8)
    for (let e = 0; e < edits; e++) data[rand(data.length)] = rand(256)
    const cut = data.subarray(0, rand(data.length + 1))
    let msg
    try {
      msg = parseMessage(cut)
    } catch (err) {
      assert.equal(err.code, 'ERR_SIP_PARSE')
      assert.ok(err.offset >= 0 && err.offset <= cut.length)
      continue
    }
    assert.ok(msg.toBytes().equals(cut))
  }
})
