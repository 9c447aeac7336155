'use strict'

// Tests of validateNumbers (a campaign's phone list) through the Node binding (freya-node).
// Run with `node --test __test__/`.

const test = require('node:test')
const assert = require('node:assert/strict')

const { validateNumbers } = require('..')

const byLine = (checked) => new Map(checked.rejected.map((r) => [r.line, r]))

test('separators are removed, 00 becomes +, SIP URIs kept, order kept', () => {
  const checked = validateNumbers([
    '+1 (415) 555-0100',
    'sip:bob@192.0.2.7',
    '+44 20.7183.8750',
    '0033 1 42 68 53 00',
  ])
  assert.deepEqual(checked, {
    valid: ['+14155550100', 'sip:bob@192.0.2.7', '+442071838750', '+33142685300'],
    rejected: [],
  })
})

test('a national number is completed with defaultCountryCode', () => {
  const numbers = ['020 7183 8750', '(415) 555-0100']
  assert.deepEqual(validateNumbers(numbers, { defaultCountryCode: '44' }).valid, [
    '+442071838750',
    '+444155550100',
  ])
  assert.deepEqual(validateNumbers(numbers, { defaultCountryCode: '+1' }).valid, [
    '+12071838750',
    '+14155550100',
  ])
  // Without a country code to complete them, both are refused, each on its line.
  for (const rules of [undefined, null, {}, { defaultCountryCode: null }]) {
    const checked = validateNumbers(numbers, rules)
    assert.deepEqual(checked.valid, [])
    assert.deepEqual(
      checked.rejected.map((r) => [r.line, r.value, r.kind]),
      [
        [1, '020 7183 8750', 'no_country_code'],
        [2, '(415) 555-0100', 'no_country_code'],
      ],
    )
    assert.match(checked.rejected[0].message, /"020 7183 8750"/)
  }
})

test('a letter is refused with kind bad_character, its line and position', () => {
  const checked = validateNumbers(['+14155550100', '+1 415 555-CALL', '+14155550101'])
  assert.deepEqual(checked.valid, ['+14155550100', '+14155550101'])
  assert.equal(checked.rejected.length, 1)
  const [r] = checked.rejected
  assert.equal(r.line, 2)
  assert.equal(r.value, '+1 415 555-CALL')
  assert.equal(r.kind, 'bad_character')
  assert.deepEqual(r.reason, { kind: 'bad_character', entry: '+1 415 555-CALL', ch: 'C', at: 12 })
  assert.match(r.message, /"\+1 415 555-CALL"/)
  assert.match(r.message, /'C' at character 12/)
})

test('a duplicate is refused naming the first line', () => {
  const checked = validateNumbers([
    '+33 1 42 68 53 00',
    '+14155550100',
    '0033142685300',
    '+1 (415) 555-0100',
  ])
  assert.deepEqual(checked.valid, ['+33142685300', '+14155550100'])
  const rejected = byLine(checked)
  assert.deepEqual([...rejected.keys()], [3, 4])
  assert.equal(rejected.get(3).kind, 'duplicate')
  assert.equal(rejected.get(3).reason.first_line, 1)
  assert.deepEqual(rejected.get(4).reason, {
    kind: 'duplicate',
    number: '+14155550100',
    first_line: 2,
  })
  assert.equal(rejected.get(4).value, '+1 (415) 555-0100')
  assert.match(rejected.get(4).message, /line 2\b/)
})

test('a number outside allowedPrefixes is refused', () => {
  const numbers = ['+1 415 555 0100', '+33 1 42 68 53 00', '+1 212 555 0199', '+44 20 7183 8750']
  const checked = validateNumbers(numbers, { allowedPrefixes: ['+1415', '+44'] })
  assert.deepEqual(checked.valid, ['+14155550100', '+442071838750'])
  assert.deepEqual(
    checked.rejected.map((r) => [r.line, r.kind]),
    [
      [2, 'prefix_not_allowed'],
      [3, 'prefix_not_allowed'],
    ],
  )
  assert.deepEqual(checked.rejected[1].reason, {
    kind: 'prefix_not_allowed',
    number: '+12125550199',
    allowed: '+1415, +44',
  })
  assert.match(checked.rejected[0].message, /\+1415, \+44/)
  // No allowed prefixes (unset, null or empty): all four pass.
  for (const allowedPrefixes of [undefined, null, []]) {
    assert.equal(validateNumbers(numbers, { allowedPrefixes }).valid.length, 4)
  }
})

test('a bad rule refuses every entry with kind bad_rule', () => {
  const numbers = ['+14155550100', '020 7183 8750', 'sip:bob@192.0.2.7']
  const checked = validateNumbers(numbers, { defaultCountryCode: '0044' })
  assert.deepEqual(checked.valid, [])
  assert.deepEqual(
    checked.rejected.map((r) => r.line),
    [1, 2, 3],
  )
  assert.deepEqual(
    checked.rejected.map((r) => r.value),
    numbers,
  )
  for (const r of checked.rejected) {
    assert.equal(r.kind, 'bad_rule')
    assert.equal(r.reason.setting, 'default_country_code')
    assert.equal(r.reason.value, '0044')
    assert.match(r.message, /"0044"/)
  }
  const badPrefix = validateNumbers(numbers, { allowedPrefixes: ['+1', '+4x'] })
  assert.deepEqual(new Set(badPrefix.rejected.map((r) => r.kind)), new Set(['bad_rule']))
  assert.equal(badPrefix.rejected[0].reason.value, '+4x')
})

test('every refusal carries kind, message and the serialized reason', () => {
  const checked = validateNumbers(['   ', '+12', '+1234567890123456', '+0441234567', 'sip:@host'], {
    defaultCountryCode: '1',
  })
  assert.deepEqual(
    checked.rejected.map((r) => r.kind),
    ['empty', 'too_short', 'too_long', 'zero_country_code', 'bad_uri'],
  )
  for (const r of checked.rejected) {
    assert.equal(r.reason.kind, r.kind)
    assert.ok(r.message.length > 0)
  }
  assert.equal(checked.rejected[2].reason.digits, 16)
  assert.match(checked.rejected[2].message, /16 digits/)
})

test('arguments are checked: unknown rules and wrong types throw', () => {
  assert.throws(() => validateNumbers(['+14155550100'], { allowedPrefix: ['+1'] }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: /unknown rule "allowedPrefix"/,
  })
  assert.throws(() => validateNumbers(['+14155550100'], { allowedPrefixes: '+1' }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /allowedPrefixes/,
  })
  assert.throws(() => validateNumbers(['+14155550100'], { defaultCountryCode: 44 }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /defaultCountryCode/,
  })
  // Not an object: a number must not silently become the default rules, nor a string's or an
  // array's indices read as rule names.
  for (const rules of [44, '44', ['+1'], true]) {
    assert.throws(() => validateNumbers(['+14155550100'], rules), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: /rules must be an object/,
    })
  }
  assert.throws(() => validateNumbers('+14155550100'))
  assert.throws(() => validateNumbers(['+14155550100', 5]))
  assert.deepEqual(validateNumbers([]), { valid: [], rejected: [] })
})
