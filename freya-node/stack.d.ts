/**
 * freya's running stack — part of the `freya` Node.js declarations, re-exported by index.d.ts
 * (`import { Stack, CallEvent } from 'freya'`). Maintained by hand like index.d.ts: the
 * `Stack` class (freya-node/src/stack.rs over `freya::stack::Stack`) and the objects it
 * takes and returns — originate and campaign requests, campaigns, live calls, call events,
 * and the errors it throws.
 */

import type { RejectedNumber } from './index'

/**
 * The `code` of an error thrown or rejected by `Stack`, one per Rust `StackError` variant.
 * A request object that does not read (a missing or unknown key, a wrong type) is a
 * `TypeError` with `code` `"ERR_INVALID_ARG_VALUE"` instead.
 */
export type StackErrorCode =
  /** The configuration is invalid (the message names the key). */
  | 'ERR_FREYA_CONFIG'
  /** Signaling refused: SIP cannot bind, a target or header refused. */
  | 'ERR_FREYA_SIP'
  /** An I/O failure (a built-in agent cannot listen, a file cannot be read). */
  | 'ERR_FREYA_IO'
  /** Every slot of the agent pool is busy. */
  | 'ERR_FREYA_BUSY'
  /** Media could not be set up (no free RTP port). */
  | 'ERR_FREYA_MEDIA'
  /** The stack has shut down. */
  | 'ERR_FREYA_CLOSED'
  /** The stack is draining for a shutdown and takes no new calls. */
  | 'ERR_FREYA_DRAINING'
  /** A campaign refused or not found (see `StackError.kind`). */
  | 'ERR_FREYA_CAMPAIGN'
  /** No live call has this call id. */
  | 'ERR_FREYA_NO_SUCH_CALL'
  /** A transfer cannot be made now: the call is not answered, not an agent's, or already being transferred. */
  | 'ERR_FREYA_TRANSFER'
  /** DTMF cannot be sent now: the call is not answered, not an agent's, or agreed no telephone-event. */
  | 'ERR_FREYA_DTMF'

/** The error `Stack` methods throw or reject with: the Rust error's message, and its `code`. */
export interface StackError extends Error {
  /** Which Rust `StackError` variant. */
  code: StackErrorCode
  /**
   * For `ERR_FREYA_CAMPAIGN` only: `"invalid_numbers"` (a refused list, see `rejected`),
   * `"empty_list"`, `"pacing"` (a bad pace setting), `"unknown"` (no such trunk or agent pool),
   * `"no_such_campaign"`, `"ended"` (a finished or cancelled campaign cannot be paused).
   */
  kind?: 'invalid_numbers' | 'empty_list' | 'pacing' | 'unknown' | 'no_such_campaign' | 'ended'
  /** For kind `"invalid_numbers"`: every refused entry of the list, in list order. */
  rejected?: CampaignRejectedNumber[]
  /** For kind `"invalid_numbers"`: the entries in the list. */
  total?: number
}

/** An outbound call to place (the body of the control API's `POST /calls`). */
/** Keys to send toward a call's SIP peer (`Stack.sendDtmf`; the body of the API's `POST /calls/{id}/dtmf`). */
export interface DtmfRequest {
  /** 1 to 32 keys: `0`-`9`, `*`, `#`, `A`-`D`. */
  digits: string
  /** How long each key is held, in ms: 40 to 2000 (default 100); 100 ms of silence between keys. */
  duration_ms?: number
}

/** A transfer to ask for (`Stack.transfer`; the body of the API's `POST /calls/{id}/transfer`). */
export interface TransferRequest {
  /**
   * A number (`+` and digits; sent as `sip:<number>@<host>` with the host of the call's trunk,
   * else the address the call came from) or a `sip:`, `sips:` or `tel:` URI, used as given.
   */
  to: string
}

export interface OriginateRequest {
  /** A number (sent through `trunk`) or a SIP URI. */
  to: string
  /** The caller id (a number, or a whole From value). */
  caller_id?: string | null
  /** The trunk to call through (by its name in the config). */
  trunk?: string | null
  /** The workflow, sent as `X-Freya-Workflow-Id` and handed to the agent. */
  workflow_id?: string | null
  /** Extra headers, sent byte-exact in this order; names must be tokens. */
  headers?: Array<[string, string]>
  /** The agent pool that takes the answered call (default: the first pool). */
  agents?: string | null
  /** Record the call (`<recording.dir>/<call id>.wav`). */
  record?: boolean
}

/** When the wrong-prefix breaker pauses a campaign: `failures` number errors of the last `window` calls. */
export interface BreakerConfig {
  /** Ended calls looked at (default 10). */
  window: number
  /** Number failures among them that pause the campaign (default 8; 1..=`window`). */
  failures: number
}

/** Phone-list rules in a `CampaignRequest` (snake_case, as in Rust; see `NumberRules`). */
export interface CampaignNumberRules {
  /** The country code that completes a national number (`"44"`). */
  default_country_code?: string | null
  /** E.164 prefixes the campaign may dial (`["+1415"]`); empty: any. */
  allowed_prefixes?: string[]
}

/** An outbound campaign to start (the body of the control API's `POST /campaigns`). */
export interface CampaignRequest {
  /** A name for people (in events and `campaigns()`). */
  name?: string | null
  /** The phone list: numbers (checked and normalised to E.164 under `rules`) or SIP URIs. */
  numbers: string[]
  /** How the list is read. */
  rules?: CampaignNumberRules
  /** Dial the valid entries even when some are refused (default false: one refused entry refuses the campaign). */
  skip_invalid?: boolean
  /** The trunk to call through. */
  trunk?: string | null
  /** The caller id. */
  caller_id?: string | null
  /** The workflow (`X-Freya-Workflow-Id`). */
  workflow_id?: string | null
  /** Extra headers on every call, byte-exact, after `X-Freya-Campaign-Id`. */
  headers?: Array<[string, string]>
  /** The agent pool answered calls go to (default: the first). */
  agents?: string | null
  /** Record every call. */
  record?: boolean
  /** New calls per second (the carrier's CPS limit; default 1). */
  calls_per_second?: number
  /** Calls that may start back to back after an idle spell (default 1). */
  burst?: number
  /** Calls of this campaign up at once (default 10). */
  max_concurrent?: number
  /** The wrong-prefix breaker (default 8 of 10); `null`: never pause. */
  breaker?: BreakerConfig | null
}

/** A refused entry of a campaign's list, as the Rust `RejectedNumber` serializes it (the API's 422 body). */
/** A refused entry of a campaign's list: the same shape as `validateNumbers` gives. */
export type CampaignRejectedNumber = RejectedNumber

/** What happened to one number of a campaign. */
export interface NumberResult {
  /** The number as dialed (E.164) or the URI. */
  number: string
  /** Its call's id, once dialed. */
  call_id: string | null
  /** `"answered"` (from the answer on, while the call is still up too), `"failed"`, or `null` while pending or ringing. */
  outcome: 'answered' | 'failed' | null
  /** 200 for an answered call; the final SIP status of a failed one (0: the call never left, see `error`). */
  sip_code: number | null
  /** The Q.850 cause of the call's end, when known (`null` while an answered call is up). */
  q850_cause: number | null
  /** Why the call could not be placed at all. */
  error: string | null
}

/** A campaign (as the control API's `GET /campaigns/{id}` shows it). */
export interface CampaignInfo {
  /** Its id (`"cmp-<uuid>"`), also the `X-Freya-Campaign-Id` of its calls. */
  campaign_id: string
  /** The request's name. */
  name: string | null
  /** Where it is. */
  state: 'running' | 'paused' | 'finished' | 'cancelled'
  /** Why it is paused (`"paused by the operator"`, `"the stack is draining for a shutdown"`, or the breaker's words, with "number error"). */
  paused_reason: string | null
  /** Numbers to dial (after validation). */
  total: number
  /** Calls started. */
  dialed: number
  /** Calls up now. */
  active: number
  /** Calls answered, those still up included. */
  answered: number
  /** Calls that failed before an answer. */
  failed: number
  /** Of `failed`, number errors (SIP 404, 410, 484, 485, 604; Q.850 1, 3, 22, 28). */
  number_failures: number
  /** Failed calls per final SIP status, ascending: `[[404, 12]]`. */
  by_sip_code: Array<[number, number]>
  /** Entries refused by validation and skipped (`skip_invalid`). */
  rejected: CampaignRejectedNumber[]
  /** Every number and its fate, in list order. */
  numbers: NumberResult[]
}

/** A live call (as the control API's `GET /calls` lists it). */
export interface CallSummary {
  /** The freya call id (UUID, its `X-Freya-Call-Id`). */
  call_id: string
  /** `"inbound"` or `"outbound"`. */
  direction: string
  /** The caller. */
  caller: string | null
  /** The callee. */
  callee: string | null
  /** `ringing`, `answered` (inbound); `calling`, `ringing`, `answered` (outbound); `b2bua`. */
  state: string
  /** The route that took it. */
  route: string | null
  /** The agent pool and slot (0-based) it holds. */
  slot: [string, number] | null
}

/** What packets of one RTP leg the relay did not forward, per reason. */
export interface RtpDrops {
  /** Neither RTP nor RTCP, or RTP that does not parse. */
  malformed: number
  /** From a source not latched yet and not the signaled address. */
  unverified: number
  /** From a source other than the latched one (RTP bleed). */
  foreign_source: number
  /** The peer's SDP direction says it does not send. */
  direction_forbids: number
  /** Not sent: the peer has the call on hold. */
  peer_on_hold: number
  /** Not sent: no address known for the peer yet. */
  no_destination: number
}

/** One RTP leg of a call (RFC 3550); packet and byte counts are whole UDP datagrams. */
export interface RtpLegStats {
  /** Packets accepted from the peer (RTP and RTCP). */
  packets_in: number
  /** Bytes of those packets. */
  bytes_in: number
  /** Of `packets_in`, RTCP packets. */
  rtcp_in: number
  /** Packets sent to the peer (RTP and RTCP). */
  packets_out: number
  /** Bytes of those packets. */
  bytes_out: number
  /** Of `packets_out`, RTCP packets. */
  rtcp_out: number
  /** RTP packets lost on the way from the peer (RFC 3550 A.3). */
  lost: number
  /** RTP packets that came after a higher sequence number. */
  late: number
  /** RTP packets received more than once. */
  duplicates: number
  /** Interarrival jitter of the peer's RTP (RFC 3550 A.8), in ms. */
  jitter_ms: number
  /** Packets the relay refused or could not forward, per reason. */
  dropped: RtpDrops
  /** RTP packets whose payload type the SDP did not agree (agent calls). */
  foreign_payload: number
  /** Packets dropped because the call's media loop was too slow (agent calls). */
  endpoint_overflow: number
  /** Agent audio packets dropped because the relay's queue was full (agent calls). */
  endpoint_full: number
}

/** The WebSocket bridge to the voice agent (8 kHz audio, 20 ms frames). */
export interface AgentMediaStats {
  /** 20 ms frames of caller audio sent to the agent (gap fill included). */
  caller_frames_sent: number
  /** Of those, silence frames sent because no caller audio came in time. */
  caller_gap_frames: number
  /** Caller audio chunks refused because the bridge's sender was over a second behind. */
  input_dropped_frames: number
  /** DTMF digits sent to the agent. */
  dtmf_sent: number
  /** DTMF digits the bridge refused. */
  dtmf_refused: number
  /** Data messages received from the agent. */
  messages_received: number
  /** Agent messages refused (bad JSON, missing fields, limits). */
  rejected_messages: number
  /** Agent audio received, in samples (8 kHz). */
  agent_samples_received: number
  /** 20 ms caller-bound frames taken from the bridge. */
  frames_from_agent: number
  /** 20 ms ticks whose frame held agent audio. */
  frames_played: number
  /** 20 ms ticks without agent audio. */
  silent_ticks: number
  /** 20 ms ticks skipped because the bridge ran more than 100 ms late. */
  late_ticks_skipped: number
  /** Caller-bound frames dropped because the media loop did not take them. */
  output_dropped_frames: number
  /** Agent samples dropped because the playout queue was full. */
  overflow_dropped_samples: number
  /** Agent samples discarded by barge-in. */
  cleared_samples: number
  /** Barge-in messages handled. */
  clears: number
  /** Agent audio still queued for the caller at hangup, in ms. */
  queued_ms: number
  /** The most agent audio ever queued, in ms. */
  queue_peak_ms: number
}

/** A call's media at its end (answered calls only); a leg that did not exist has no key. */
export interface CallMediaStats {
  /** The RTP leg to the caller (the peer that called freya). */
  caller?: RtpLegStats
  /** The RTP leg to the callee (the peer freya called). */
  callee?: RtpLegStats
  /** The bridge to the voice agent. */
  agent?: AgentMediaStats
  /** Packets the relay could not send, all legs. */
  send_errors: number
  /** Receive failures on the call's RTP sockets. */
  recv_errors: number
  /** Datagrams dropped for being longer than 4096 bytes. */
  oversize: number
}

/**
 * One call event, as the Rust `CallEvent` serializes it (the control API's event stream sends
 * the same JSON): `call_id`, `ts_ms` (ms since the Unix epoch) and, tagged by `event`, the
 * kind's fields. A `campaign` event's `call_id` is the campaign's id (`"cmp-…"`).
 */
export type CallEvent = { call_id: string; ts_ms: number } & (
  /** A call arrived (inbound) or is being placed (outbound). */
  | {
      event: 'started'
      direction: 'inbound' | 'outbound'
      caller: string | null
      callee: string | null
      trunk: string | null
      workflow_id: string | null
      route: string | null
      sip_call_id: string
      /** Every X- header, in order, exact values (a campaign's calls: `X-Freya-Campaign-Id`). */
      headers: Array<[string, string]>
    }
  /** Our 180 (inbound) or the far end's 18x (outbound). */
  | { event: 'ringing'; sip_code: number }
  | { event: 'answered' }
  /** An agent slot was taken (`connect`: the URL a server-mode agent opens). */
  | { event: 'slot_taken'; pool: string; slot: number; connect?: string }
  | { event: 'slot_freed'; pool: string; slot: number }
  /** A DTMF digit (`via`: `"rfc4733"` or `"info"`). */
  | { event: 'dtmf'; digit: string; via: string }
  /** Hold (`held: true`) or resume, by `"caller"` or `"callee"`. */
  | { event: 'hold'; held: boolean; by: string }
  /**
   * A transfer by REFER: `requested` (sent), `accepted` (202) or `refused` (its status), then
   * `progress` (the target's 1xx), `succeeded` (answered: the call's hangup follows) or `failed`
   * (refused by the target, or no outcome in time: the call stays with its agent).
   */
  | {
      event: 'transfer'
      state: 'requested' | 'accepted' | 'refused' | 'progress' | 'succeeded' | 'failed'
      /** The URI in the REFER's Refer-To. */
      target: string
      /** The status this step reports: the REFER's, or the transferee's INVITE's. */
      sip_code: number | null
      /** Its reason phrase, or why the transfer failed. */
      reason: string | null
    }
  /** A campaign changed: `started`, `paused` (with `reason`), `resumed`, `finished`, `cancelled`. */
  | {
      event: 'campaign'
      state: 'started' | 'paused' | 'resumed' | 'finished' | 'cancelled'
      name: string | null
      reason: string | null
      total: number
      dialed: number
      answered: number
      failed: number
      number_failures: number
      by_sip_code: Array<[number, number]>
    }
  /** The call ended (always its last event). */
  | {
      event: 'hangup'
      /** The SIP status that ended it (200 for a BYE after an answer). */
      sip_code: number
      /** Its reason phrase. */
      reason: string
      /** The Q.850 cause, when known. */
      q850_cause: number | null
      /** The cause in words (`"Normal call clearing"`, `"Call rejected"`). */
      q850_text: string | null
      /** `"local"`, `"remote"`, `"agent"` or `"system"`. */
      hangup_by: string
      /** From answer to hangup, in ms (0 if never answered). */
      duration_ms: number
      /** The recording's path, when recorded. */
      recording: string | null
      /** The media counters (answered calls only). */
      media?: CallMediaStats
    }
)

/**
 * The running SIP/RTP stack: SIP, the RTP port range and the built-in agents bound, taking
 * calls. It runs on the addon's own tokio runtime: async methods return Promises, events come
 * to `onEvent` callbacks; nothing blocks the event loop. Errors are `StackError`s (`code`
 * per Rust variant), bad request objects `TypeError`s (`code` `"ERR_INVALID_ARG_VALUE"`).
 */
export declare class Stack {
  private constructor()
  /**
   * Starts a stack on `configToml` (the `freya-stack` config file's TOML; default: the embedded
   * default config, SIP on 127.0.0.1:5060). Resolves once SIP, RTP and the agents are bound.
   *
   * Rejects with `ERR_FREYA_CONFIG` (the message names the key), `ERR_FREYA_SIP` (SIP cannot
   * bind) or `ERR_FREYA_IO` (a built-in agent cannot listen).
   */
  static start(configToml?: string | null): Promise<Stack>
  /** Where SIP listens (`"127.0.0.1:5060"`). */
  get sipAddress(): string
  /**
   * Calls `callback` with every call event from now on. Until `shutdown()` a registered
   * callback keeps Node running; after it, the queued events are delivered and the callbacks
   * released. Events wait in a queue for the JS thread (unbounded), in the order they happened.
   *
   * @throws {StackError} `ERR_FREYA_CLOSED` after `shutdown()`.
   */
  onEvent(callback: (event: CallEvent) => void): void
  /**
   * Places an outbound call; resolves with its call id once the INVITE is on its way.
   * Progress, answer and the end come as events.
   *
   * Rejects with `ERR_FREYA_BUSY` (no idle agent slot), `ERR_FREYA_SIP` (target or header
   * refused), `ERR_FREYA_MEDIA` (no RTP port), `ERR_FREYA_DRAINING`, `ERR_FREYA_CONFIG`
   * (no such agent pool), or a `TypeError` for a bad request.
   */
  originate(req: OriginateRequest): Promise<string>
  /**
   * Transfers an answered agent call by REFER (a blind transfer, RFC 3515): the call's SIP peer
   * calls `req.to` itself. Resolves with the target URI once the REFER is sent; the outcome comes
   * as `transfer` events (`succeeded`: the call is hung up; `refused`/`failed`: it stays).
   *
   * @throws {StackError} (rejects) `ERR_FREYA_NO_SUCH_CALL`, `ERR_FREYA_TRANSFER`, `ERR_FREYA_CLOSED`.
   * @throws {TypeError} (rejects; `code` `ERR_INVALID_ARG_VALUE`) for a bad request or target.
   */
  transfer(callId: string, req: TransferRequest): Promise<string>
  /**
   * Sends keys toward an answered agent call's SIP peer (an IVR): RFC 4733 events in the call's
   * RTP, or SIP INFO on a `dtmf_mode = "info"` trunk. Resolves once queued (RFC 4733) or sent.
   *
   * @throws {StackError} (rejects) `ERR_FREYA_NO_SUCH_CALL`, `ERR_FREYA_DTMF`, `ERR_FREYA_CLOSED`.
   * @throws {TypeError} (rejects; `code` `ERR_INVALID_ARG_VALUE`) for bad digits or duration.
   */
  sendDtmf(callId: string, req: DtmfRequest): Promise<void>
  /** The calls alive now. */
  calls(): CallSummary[]
  /**
   * Hangs up a live call: CANCEL before an answer of an originated call, a rejection of an
   * unanswered inbound one, BYE after, with `Reason: Q.850;cause=N` (`q850Cause`, default 16
   * normal clearing). Its `hangup` event follows.
   *
   * @throws {StackError} `ERR_FREYA_NO_SUCH_CALL` for an unknown or ended call.
   * @throws {TypeError} (`code` `ERR_INVALID_ARG_VALUE`) for a cause outside 1..=127.
   */
  hangup(callId: string, q850Cause?: number | null): void
  /**
   * Starts an outbound campaign and returns it. The list is checked first: one refused entry
   * refuses the campaign whole (unless `skip_invalid`) and nothing is dialed. Its progress
   * comes as `campaign` events and from `campaign(id)`.
   *
   * @throws {StackError} `ERR_FREYA_CAMPAIGN` with `kind` `"invalid_numbers"` and `rejected`,
   *   or `"empty_list"`, `"pacing"`, `"unknown"`; `ERR_FREYA_DRAINING`.
   * @throws {TypeError} for a bad request (`ERR_INVALID_ARG_VALUE`, the message names the key).
   */
  startCampaign(req: CampaignRequest): CampaignInfo
  /**
   * The campaigns kept, by id: every running or paused one, and the last
   * `[control] keep_ended_campaigns` (default 100) ended ones; older ended ones are forgotten.
   */
  campaigns(): CampaignInfo[]
  /**
   * One campaign.
   *
   * @throws {StackError} `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"`): an unknown id, or
   *   a campaign ended and forgotten since (see `[control] keep_ended_campaigns`).
   */
  campaign(campaignId: string): CampaignInfo
  /**
   * Stops a campaign dialing (its calls up go on) until `resumeCampaign`.
   *
   * @throws {StackError} `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
   */
  pauseCampaign(campaignId: string): void
  /**
   * Dials again, after `pauseCampaign` or the wrong-prefix breaker (which starts over).
   *
   * @throws {StackError} `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
   */
  resumeCampaign(campaignId: string): void
  /**
   * Ends a campaign: nothing more is dialed; it is `cancelled` once its calls end.
   *
   * @throws {StackError} `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
   */
  cancelCampaign(campaignId: string): void
  /**
   * A graceful stop: new calls are refused from now on (inbound 503, originate
   * `ERR_FREYA_DRAINING`), running campaigns pause (reason `"the stack is draining for a
   * shutdown"`); live calls may go on for up to `graceMs`, then those still up are
   * hung up with Q.850 cause 41. Resolves with how many were hung up. Call `shutdown()` after.
   */
  drain(graceMs: number): Promise<number>
  /**
   * Stops the stack: campaigns are cancelled, the calls still up hung up with Q.850 cause 41
   * (call `drain()` first to give them time), the built-in agents stop listening and the SIP
   * sockets are closed (every port is free again); then the events already queued are
   * delivered and the `onEvent` callbacks released, so that the stack no longer keeps Node
   * running. Later requests reject with `ERR_FREYA_CLOSED`.
   */
  shutdown(): Promise<void>
}
