'use strict'

// index.d.ts is maintained by hand (it also describes the thrown SipParseError, which napi's
// generator cannot see), together with the files it re-exports (`export * from './stack'`);
// "index.d.ts" below means all of them: everything importable from 'freya'. This test keeps it
// in step with the declarations `napi build` generates from the Rust sources
// (napi-generated.d.ts): every exported function, class and class member napi declares must
// be declared in index.d.ts too, and every interface napi generates for a returned object
// (`#[napi(object)]`) with the same fields.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const generatedPath = path.join(root, 'napi-generated.d.ts')

// index.d.ts followed by every declaration file it re-exports (`export * from './x'`), in order.
function handWritten() {
  const index = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const parts = [index]
  for (const m of index.matchAll(/^export \* from '\.\/([\w-]+)'/gm)) {
    parts.push(fs.readFileSync(path.join(root, `${m[1]}.d.ts`), 'utf8'))
  }
  return parts.join('\n')
}

// Names declared at the top level and inside each class, per file.
function declarations(source) {
  const out = new Set()
  let cls = null
  for (const line of source.split('\n')) {
    let m
    if ((m = line.match(/^export declare (?:class|function|const) (\w+)/))) {
      out.add(m[1])
      cls = line.includes(' class ') ? m[1] : null
    } else if (cls && (m = line.match(/^\s+(static )?(?:get |set )?(\w+)\s*\(/))) {
      // A static member is named `Class.static name`: it lives on the class, not its prototype.
      if (m[2] !== 'constructor') out.add(`${cls}.${m[1] || ''}${m[2]}`)
    } else if (/^}/.test(line)) {
      cls = null
    }
  }
  return out
}

// The fields of each `export interface`, per file. (index.d.ts may declare more interfaces than
// napi generates: the thrown SipParseError, the rules object taken as a plain object.)
function interfaces(source) {
  const out = new Map()
  let fields = null
  for (const line of source.split('\n')) {
    let m
    if ((m = line.match(/^export interface (\w+)/))) {
      fields = new Set()
      out.set(m[1], fields)
    } else if (fields && (m = line.match(/^\s+(\w+)\??:/))) {
      fields.add(m[1])
    } else if (/^}/.test(line)) {
      fields = null
    }
  }
  return out
}

test('index.d.ts declares the interfaces napi generates, with the same fields', { skip: !fs.existsSync(generatedPath) }, () => {
  const generated = interfaces(fs.readFileSync(generatedPath, 'utf8'))
  const written = interfaces(handWritten())
  for (const [name, fields] of generated) {
    assert.ok(written.has(name), `interface ${name} is missing from index.d.ts`)
    assert.deepEqual([...written.get(name)].sort(), [...fields].sort(), `fields of ${name}`)
  }
})

test('index.d.ts declares everything napi generates', { skip: !fs.existsSync(generatedPath) }, () => {
  const generated = declarations(fs.readFileSync(generatedPath, 'utf8'))
  const written = declarations(handWritten())
  assert.ok(generated.size > 0, 'napi-generated.d.ts declares nothing')
  const missing = [...generated].filter((name) => !written.has(name))
  assert.deepEqual(missing, [], 'declared by napi but missing from index.d.ts')
  const stale = [...written].filter((name) => !generated.has(name))
  assert.deepEqual(stale, [], 'declared in index.d.ts but no longer exported by the addon')
})

test('the addon exports what index.d.ts declares', () => {
  const addon = require('..')
  const written = declarations(handWritten())
  for (const name of written) {
    const [top, member] = name.split('.')
    assert.ok(top in addon, `${top} is not exported`)
    if (member) {
      const [holder, key] = member.startsWith('static ')
        ? [addon[top], member.slice('static '.length)]
        : [addon[top].prototype, member]
      assert.ok(Object.getOwnPropertyDescriptor(holder, key), `${name} is missing`)
    }
  }
})
