/**
 * freya: an embeddable SIP/RTP stack for voice-AI telephony — Node.js bindings.
 *
 * A thin shell over the Rust crate `freya` (freya-node/src/lib.rs): the header-preserving SIP
 * message parser, the check of a campaign's phone list, and the running stack (`Stack`:
 * originate, campaigns, live call events). Requests, results and events are the JSON the Rust
 * types serialize to (snake_case keys), the same JSON as the control API and Python.
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

/** How `validateNumbers` reads a phone list. Any other key is refused with a `TypeError`. */
export interface NumberRules {
  /**
   * The country code (digits, e.g. `"44"`; a leading `+` is allowed) that completes a national
   * number: one with the national trunk prefix `0` (`"020 7183 8750"`) or with no prefix at
   * all. Unset: such entries are refused (kind `"no_country_code"`). Must be 1 to 3 digits not
   * starting with 0, else every entry is refused with kind `"bad_rule"`.
   */
  defaultCountryCode?: string | null
  /**
   * E.164 prefixes the campaign may dial (`["+1415", "+44"]`); unset or empty: any. A number
   * outside them is refused (kind `"prefix_not_allowed"`): the wrong-prefix check.
   */
  allowedPrefixes?: string[] | null
}

/**
 * Why an entry was refused, exactly as the Rust `NumberError` serializes it: `kind` and the
 * variant's fields (snake_case keys). `entry` is the entry as given, `number` as normalised
 * (E.164, `"+…"`).
 */
export type NumberErrorReason =
  | { kind: 'empty' }
  /** A character that is neither a digit, a leading `+`, nor a separator (space `-` `.` `(` `)`). */
  | { kind: 'bad_character'; entry: string; ch: string; /** 1-based, in characters. */ at: number }
  /** Fewer than 7 digits (country code included). */
  | { kind: 'too_short'; number: string; digits: number }
  /** More than 15 digits (ITU-T E.164 §6.1). */
  | { kind: 'too_long'; number: string; digits: number }
  /** A national number and no `defaultCountryCode` to complete it. */
  | { kind: 'no_country_code'; entry: string }
  /** `+0…`: no country code starts with 0. */
  | { kind: 'zero_country_code'; number: string }
  /** Outside `allowedPrefixes` (`allowed`: the prefixes, comma-separated). */
  | { kind: 'prefix_not_allowed'; number: string; allowed: string }
  /** The same number (after normalising) is on an earlier line, `first_line` (1-based). */
  | { kind: 'duplicate'; number: string; first_line: number }
  /** A `sip:`/`sips:` entry that is not `sip:user@host`. */
  | { kind: 'bad_uri'; entry: string }
  /** A rule itself is wrong (`setting`: `"default_country_code"` or `"allowed_prefixes"`). */
  | { kind: 'bad_rule'; setting: string; value: string; reason: string }

/** One refused entry of a phone list. */
export interface RejectedNumber {
  /** The entry's line in the list (1-based: `numbers[line - 1]`). */
  line: number
  /** The entry as given. */
  value: string
  /** Why it was refused: `reason.kind` (`"bad_character"`, `"duplicate"`, `"bad_rule"`, …). */
  kind: NumberErrorReason['kind']
  /** The reason in words, quoting the entry, e.g. `"\"+14155550100\" is already on line 2"`. */
  message: string
  /** The reason with its fields, as the Rust error serializes it. */
  reason: NumberErrorReason
}

/** A checked phone list: what can be dialed, in list order, and what cannot. */
export interface NumberList {
  /** E.164 numbers (`"+14155550100"`) and SIP URIs, normalised, in the order given. */
  valid: string[]
  /** The entries refused, with their lines. */
  rejected: RejectedNumber[]
}

/**
 * Checks a campaign's phone list before anything is dialed. Each entry is normalised to E.164
 * (`"+1 (415) 555-0100"` → `"+14155550100"`, `00` → `+`, a national number completed with
 * `rules.defaultCountryCode`) or kept as a SIP URI; letters, duplicates, numbers outside
 * `rules.allowedPrefixes` and the like are refused with their line. Synchronous (pure, no I/O).
 *
 * A bad entry or a bad rule value never throws (a bad rule refuses every entry with kind
 * `"bad_rule"`).
 *
 * @throws {TypeError} when `rules` has another key (`code` `"ERR_INVALID_ARG_VALUE"`) or a rule
 *   of the wrong type (`code` `"ERR_INVALID_ARG_TYPE"`).
 */
export declare function validateNumbers(numbers: string[], rules?: NumberRules | null): NumberList

// The running stack (`Stack`, its requests, results, events and errors): in stack.d.ts.
export * from './stack'
