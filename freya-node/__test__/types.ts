// Compiled with `tsc --noEmit` by `npm run typecheck`: checks that index.d.ts is valid and
// describes the API as the tests use it.
import { parseMessage, Message, SipParseError } from '..'

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
