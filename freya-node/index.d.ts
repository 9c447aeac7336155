/**
 * freya: an embeddable SIP/RTP stack for voice-AI telephony — Node.js bindings.
 *
 * A thin shell over the Rust crate `freya` (freya-node/src/lib.rs). For now it exposes the
 * header-preserving SIP message parser.
 */

/// <reference types="node" />

/**
 * A parsed SIP request or response. It keeps the bytes it was parsed from: every accessor
 * returns exactly what was received (header names' case, spacing inside values, UTF-8 text),
 * and `toBytes()` gives back the received bytes unchanged.
 */
export declare class Message {
  private constructor()
  /** `true` for a request, `false` for a response. */
  get isRequest(): boolean
  /** The request method (`"INVITE"`, …), or `null` for a response. */
  get method(): string | null
  /** The request-URI exactly as received, or `null` for a response. */
  get requestUri(): string | null
  /** The response status code (`200`, …), or `null` for a request. */
  get status(): number | null
  /** The response reason phrase exactly as received, or `null` for a request. */
  get reason(): string | null
  /** Every header in received order, as `[name, value]` pairs exactly as received. */
  get headers(): Array<[string, string]>
  /** The message body (empty when there is none). */
  get body(): Buffer
  /**
   * The value of the first header called `name` (case-insensitive; compact forms such as
   * `"i"` for Call-ID are understood), or `null` when the message has no such header.
   */
  header(name: string): string | null
  /** The message serialized: for a parsed, unedited message, exactly the bytes received. */
  toBytes(): Buffer
}

/** The error `parseMessage` throws when a message is refused. */
export interface SipParseError extends Error {
  name: 'SipParseError'
  /** Always `"ERR_SIP_PARSE"`. */
  code: 'ERR_SIP_PARSE'
  /** The kind of error, e.g. `"invalid_header_name"`, `"unsupported_version"`. */
  kind: string
  /** The 1-based line the error is on, or `null`. */
  line: number | null
  /** The byte offset of the offending bytes in the input. */
  offset: number
  /** The offending bytes as lowercase hex, e.g. `"c4b0"`. */
  offending: string
  /** The offending bytes themselves. */
  offendingBytes: Buffer
  /** The name of the header at fault, or `null`. */
  header: string | null
  /** What the grammar expected, in words (the message without the location). */
  detail: string
  /**
   * The SIP response a server should send back (400 with a Warning, 505 for an unsupported
   * version, …), or `null` when none can be built (a response, or a request whose
   * essentials are unreadable).
   */
  response: Buffer | null
}

/**
 * Parses one SIP message (request or response).
 *
 * @throws {SipParseError} when the message is refused (`err.code === 'ERR_SIP_PARSE'`).
 */
export declare function parseMessage(buf: Buffer): Message
