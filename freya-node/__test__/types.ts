// Compiled with `tsc --noEmit` by `npm run typecheck`: checks that index.d.ts is valid and
// describes the API as the tests use it.
import {
  parseMessage,
  Message,
  SipParseError,
  validateNumbers,
  NumberList,
  NumberRules,
  RejectedNumber,
  NumberErrorReason,
  Stack,
  StackError,
  CallEvent,
  CallSummary,
  CampaignInfo,
  CampaignRequest,
  OriginateRequest,
  TransferRequest,
  DtmfRequest,
} from '..'

const msg: Message = parseMessage(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n\r\n'))
const method: string | null = msg.method
const status: number | null = msg.status
const reason: string | null = msg.reason
const uri: string | null = msg.requestUri
const isRequest: boolean = msg.isRequest
const headers: Array<[string, string]> = msg.headers
const callId: string | null = msg.header('Call-ID')
const body: Buffer = msg.body
const bytes: Buffer = msg.toBytes()

try {
  parseMessage(Buffer.alloc(0))
} catch (e) {
  const err = e as SipParseError
  const fields: [string, string, number | null, number, string, string | null, Buffer | null] = [
    err.code,
    err.kind,
    err.line,
    err.offset,
    err.offending,
    err.header,
    err.response,
  ]
  void fields
}

void [method, status, reason, uri, isRequest, headers, callId, body, bytes]

const rules: NumberRules = { defaultCountryCode: '44', allowedPrefixes: ['+44'] }
const checked: NumberList = validateNumbers(['020 7183 8750'], rules)
const noRules: NumberList = validateNumbers(['+14155550100'])
const valid: string[] = checked.valid
for (const r of checked.rejected) {
  const entry: RejectedNumber = r
  const line: number = entry.line
  const value: string = entry.value
  const message: string = entry.message
  const kind: NumberErrorReason['kind'] = entry.kind
  const reason: NumberErrorReason = entry.reason
  // The union narrows on kind: each variant's fields are typed.
  if (reason.kind === 'duplicate') {
    const firstLine: number = reason.first_line
    void firstLine
  } else if (reason.kind === 'bad_character') {
    const at: number = reason.at
    const ch: string = reason.ch
    void [at, ch]
  }
  void [line, value, message, kind]
}
// @ts-expect-error: an unknown rule is a type error too (and a TypeError at run time)
validateNumbers([], { allowedPrefix: ['+1'] })

void [noRules, valid]

// The stack: Promises, plain snake_case objects, events narrowed on `event`.
async function dashboard(): Promise<void> {
  const stack: Stack = await Stack.start()
  const other: Stack = await Stack.start('[sip]\nbind = "127.0.0.1:0"\n')
  const addr: string = stack.sipAddress
  stack.onEvent((e: CallEvent) => {
    const id: string = e.call_id
    const ts: number = e.ts_ms
    if (e.event === 'hangup') {
      const code: number = e.sip_code
      const cause: number | null = e.q850_cause
      const words: string | null = e.q850_text
      const jitter: number | undefined = e.media?.caller?.jitter_ms
      void [code, cause, words, jitter]
    } else if (e.event === 'campaign') {
      const state: 'started' | 'paused' | 'resumed' | 'finished' | 'cancelled' = e.state
      const failures: number = e.number_failures
      void [state, failures]
    } else if (e.event === 'transfer') {
      const step: 'requested' | 'accepted' | 'refused' | 'progress' | 'succeeded' | 'failed' = e.state
      const target: string = e.target
      const status: number | null = e.sip_code
      void [step, target, status]
    } else if (e.event === 'started') {
      const headers: Array<[string, string]> = e.headers
      void headers
    }
    void [id, ts]
  })
  const req: OriginateRequest = { to: '+14155550100', trunk: 'carrier', headers: [['X-Campaign', 'spring']] }
  const callId: string = await stack.originate(req)
  const calls: CallSummary[] = stack.calls()
  const treq: TransferRequest = { to: '+14155550199' }
  const target: string = await stack.transfer(callId, treq)
  const dreq: DtmfRequest = { digits: '1#', duration_ms: 120 }
  await stack.sendDtmf(callId, dreq)
  void target
  stack.hangup(callId)
  stack.hangup(callId, 17)
  const creq: CampaignRequest = { numbers: ['+14155550100'], calls_per_second: 2, max_concurrent: 5, breaker: null }
  try {
    const info: CampaignInfo = stack.startCampaign(creq)
    const state: CampaignInfo['state'] = stack.campaign(info.campaign_id).state
    stack.pauseCampaign(info.campaign_id)
    stack.resumeCampaign(info.campaign_id)
    stack.cancelCampaign(info.campaign_id)
    const all: CampaignInfo[] = stack.campaigns()
    void [state, all]
  } catch (e) {
    const err = e as StackError
    if (err.code === 'ERR_FREYA_CAMPAIGN' && err.kind === 'invalid_numbers') {
      const line: number | undefined = err.rejected?.[0].line
      void line
    }
  }
  const hungUp: number = await stack.drain(5000)
  await stack.shutdown()
  await other.shutdown()
  // @ts-expect-error: requests use the Rust (snake_case) field names
  await stack.originate({ to: '+1', workflowId: 'wf' })
  void [addr, calls, hungUp]
}
void dashboard
