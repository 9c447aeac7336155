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
