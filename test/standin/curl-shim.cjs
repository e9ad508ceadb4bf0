#!/usr/local/bin/node
// A small `curl` for the FROM-scratch stand-in image, so the compose healthcheck
// ["CMD", "curl", "-sf", "http://localhost:8000/api/health"] works. Installed as /usr/bin/curl.
// Supports -s/--silent, -S/--show-error, -f/--fail, -o/--output FILE, -m/--max-time SECONDS,
// -H/--header 'Name: value' and -X/--request METHOD; exit codes follow curl (6, 7, 22, 28, ...).
'use strict'
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')

const FLAG_LETTERS = {s: 'silent', S: 'showError', f: 'fail'}
const VALUE_OPTIONS = {'-o': 'output', '--output': 'output', '-m': 'maxTime', '--max-time': 'maxTime', '-H': 'header', '--header': 'header', '-X': 'method', '--request': 'method'}
const LONG_FLAGS = {'--silent': 'silent', '--show-error': 'showError', '--fail': 'fail'}

function exitWith(code, message, options) {
  if (message && (!options.silent || options.showError)) process.stderr.write(`curl: (${code}) ${message}\n`)
  process.exit(code)
}

function parseArguments(argv) {
  const options = {silent: false, showError: false, fail: false, headers: {}, method: 'GET', maxTime: 0, output: undefined, url: undefined}
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]
    if (VALUE_OPTIONS[argument]) {
      const value = argv[++index]
      if (value === undefined) exitWith(2, `option ${argument}: requires parameter`, options)
      const key = VALUE_OPTIONS[argument]
      if (key === 'header') {
        const separator = value.indexOf(':')
        options.headers[value.slice(0, separator).trim()] = value.slice(separator + 1).trim()
      } else {
        options[key] = key === 'maxTime' ? Number(value) : value
      }
    } else if (LONG_FLAGS[argument]) {
      options[LONG_FLAGS[argument]] = true
    } else if (/^-[sSf]+$/.test(argument)) {
      for (const letter of argument.slice(1)) options[FLAG_LETTERS[letter]] = true
    } else if (argument.startsWith('-')) {
      exitWith(2, `option ${argument}: is unknown`, options)
    } else {
      options.url = argument
    }
  }
  if (!options.url) exitWith(2, 'no URL specified', options)
  return options
}

function errorExitCode(error) {
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return [6, 'Could not resolve host']
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(error.code)) return [7, `Failed to connect: ${error.code}`]
  return [56, `Failure when receiving data from the peer: ${error.code ?? error.message}`]
}

function main() {
  const options = parseArguments(process.argv.slice(2))
  let url
  try {
    url = new URL(options.url)
  } catch {
    exitWith(3, 'URL using bad/illegal format or missing URL', options)
  }
  const client = url.protocol === 'https:' ? https : http
  const request = client.request(url, {method: options.method, headers: options.headers}, (response) => {
    if (options.fail && response.statusCode >= 400) {
      response.resume()
      exitWith(22, `The requested URL returned error: ${response.statusCode}`, options)
    }
    response.pipe(options.output ? fs.createWriteStream(options.output) : process.stdout)
  })
  if (options.maxTime > 0) {
    request.setTimeout(options.maxTime * 1000, () => {
      request.destroy()
      exitWith(28, `Operation timed out after ${options.maxTime * 1000} milliseconds`, options)
    })
  }
  request.on('error', (error) => exitWith(...errorExitCode(error), options))
  request.end()
}

main()
