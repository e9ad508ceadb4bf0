import {InputRequiredError, InvalidInputError} from '../errors.js'
import {DATA_SOURCES, DEFAULT_REPOSITORY, DataSource, ExistingInstance, HttpBind, InitSettings, TLS_MODES} from './types.js'
import {validateRepository} from './plan.js'
import {Channel, TlsMode} from '../instance/state.js'
import {validateChoice, validateCpus, validateDomain, validateEmail, validateHttpUrl, validateMemory, validatePort} from '../validate.js'
import {validateVersionTag} from '../image-registry/versions.js'
import {checkBigqueryLocation, checkBigqueryProject, checkBind, checkCertDir, checkedPin, promptCheck} from './validators.js'
import {WizardIo, askVersion} from './wizard.js'

/** The values given on the command line or through AGNES_* variables (oclif reads both). */
export interface InitFlagValues {
  image?: string
  channel?: string
  pin?: string
  httpPort?: string
  tls?: string
  domain?: string
  acmeEmail?: string
  tlsCertDir?: string
  adminEmail?: string
  dataSource?: string
  keboolaUrl?: string
  bigqueryProject?: string
  bigqueryLocation?: string
  memory?: string
  cpus?: string
  bind?: string
}

const CHANNELS: readonly Channel[] = ['stable', 'dev']

function existingAcmeEmail(existing: ExistingInstance): string | undefined {
  const match = /^tls\s+(\S+@\S+)$/.exec(existing.env?.get('CADDY_TLS') ?? '')
  return match?.[1]
}

/**
 * Resolves every init setting: a given flag wins, then what the instance already has (a re-run keeps its
 * settings), then a prompt when a terminal is present, then the default. A required value with no default
 * is an InputRequiredError naming its flag.
 */
export async function resolveInitSettings(given: InitFlagValues, existing: ExistingInstance, wizard?: WizardIo): Promise<InitSettings> {
  const {env, state} = existing
  const prompter = wizard?.prompter

  async function ask(options: {
    given?: string
    current?: string
    fallback?: string
    flag: string
    label: string
    explain: string
    check: (value: string) => unknown
  }): Promise<string> {
    if (options.given !== undefined) {
      options.check(options.given)
      return options.given
    }

    const preset = options.current ?? options.fallback
    if (prompter) {
      return prompter.input({
        default: preset,
        message: `${options.label} — ${options.explain}`,
        validate: promptCheck(options.check),
      })
    }

    if (preset === undefined) throw new InputRequiredError(options.flag, options.label)
    options.check(preset)
    return preset
  }

  async function choose<T extends string>(options: {
    given?: string
    current?: T
    fallback: T
    flag: string
    label: string
    choices: Array<{value: T; name: string; description: string}>
  }): Promise<T> {
    const values = options.choices.map((choice) => choice.value)
    if (options.given !== undefined) return validateChoice(options.given, values, options.flag)
    if (prompter) return prompter.select({choices: options.choices, default: options.current ?? options.fallback, message: options.label})
    return options.current ?? options.fallback
  }

  const repository = validateRepository(
    await ask({
      check: (value) => validateRepository(value, '--image'),
      current: state?.repository,
      explain: 'where the Agnes image is pulled from; a mirror or a local registry works',
      fallback: DEFAULT_REPOSITORY,
      flag: '--image',
      given: given.image,
      label: 'Image repository',
    }),
    '--image',
  )

  let pin = given.pin === undefined ? undefined : checkedPin(given.pin)
  let channel: Channel
  if (pin !== undefined) {
    channel = validateVersionTag(pin).channel
  } else if (given.channel !== undefined) {
    channel = validateChoice(given.channel, CHANNELS, '--channel')
  } else if (wizard) {
    ;({channel, pin} = await askVersion(wizard, repository, {channel: state?.channel, pin: state?.pin}))
  } else {
    channel = state?.channel ?? 'stable'
    pin = state?.pin
  }

  const httpPort = validatePort(
    await ask({
      check: (value) => validatePort(value, '--http-port'),
      current: env?.get('AGNES_HTTP_PORT'),
      explain: 'the host port the app listens on',
      fallback: '8000',
      flag: '--http-port',
      given: given.httpPort,
      label: 'HTTP port',
    }),
    '--http-port',
  )

  const tls = await choose<TlsMode>({
    choices: [
      {description: 'plain HTTP on the port above, open to the network or only to your own proxy on this host', name: 'No TLS', value: 'none'},
      {description: "Caddy gets a Let's Encrypt certificate; needs a public domain and ports 80/443", name: 'Automatic HTTPS (ACME)', value: 'acme'},
      {description: "Caddy's own CA; browsers warn unless they trust it", name: 'Self-signed (internal CA)', value: 'internal'},
      {description: 'Caddy serves fullchain.pem + privkey.pem from a directory you give', name: 'Certificate files', value: 'files'},
    ],
    current: state?.tls,
    fallback: 'none',
    flag: '--tls',
    given: given.tls,
    label: 'TLS for the public address',
  })
  if (!TLS_MODES.includes(tls)) throw new InvalidInputError(`--tls: unknown mode ${tls}`, {hint: `Pass --tls with one of: ${TLS_MODES.join(', ')}.`})

  let bind: HttpBind = '127.0.0.1'
  if (given.bind !== undefined) {
    bind = checkBind(given.bind, tls)
  } else if (tls === 'none') {
    const current = state?.tls === 'none' && env?.get('AGNES_HTTP_BIND') === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0'
    bind = await choose<HttpBind>({
      choices: [
        {description: 'plain HTTP, reachable by anyone who reaches this host', name: 'Every network interface (0.0.0.0)', value: '0.0.0.0'},
        {description: 'your own reverse proxy on this host forwards to it; nothing else reaches it', name: 'Only this host (127.0.0.1), behind my own proxy', value: '127.0.0.1'},
      ],
      current,
      fallback: '0.0.0.0',
      flag: '--bind',
      label: 'Who may reach the app port?',
    })
  }

  const domainValue =
    tls === 'none' && given.domain === undefined && !prompter
      ? env?.get('DOMAIN')
      : await ask({
          check: (value) => (value === '' && tls === 'none' ? true : validateDomain(value, '--domain')),
          current: env?.get('DOMAIN'),
          explain: tls === 'none' ? 'optional public host name; leave empty for none' : 'the public host name that points at this server',
          fallback: tls === 'none' ? '' : undefined,
          flag: '--domain',
          given: given.domain,
          label: 'Public domain',
        })
  const domain = domainValue ? validateDomain(domainValue, '--domain') : undefined

  let acmeEmail: string | undefined
  if (tls === 'acme') {
    acmeEmail = validateEmail(
      await ask({
        check: (value) => validateEmail(value, '--acme-email'),
        current: existingAcmeEmail(existing),
        explain: "Let's Encrypt sends expiry warnings here",
        flag: '--acme-email',
        given: given.acmeEmail,
        label: 'ACME account email',
      }),
      '--acme-email',
    )
  }

  let tlsCertDir: string | undefined
  if (tls === 'files') {
    const dir = await ask({
      check: (value) => value.trim() !== '' || '--tls-cert-dir is required',
      current: env?.get('AGNES_TLS_CERT_DIR'),
      explain: 'a directory holding fullchain.pem and privkey.pem',
      flag: '--tls-cert-dir',
      given: given.tlsCertDir,
      label: 'Certificate directory',
    })
    tlsCertDir = await checkCertDir(dir, '--tls-cert-dir')
  }

  const adminEmail = validateEmail(
    await ask({
      check: (value) => validateEmail(value, '--admin-email'),
      current: state?.adminEmail,
      explain: 'the first administrator; agnes configure creates this account',
      flag: '--admin-email',
      given: given.adminEmail,
      label: 'Admin email',
    }),
    '--admin-email',
  )

  const dataSource = await choose<DataSource>({
    choices: [
      {description: 'Keboola Storage tables, synced into Agnes', name: 'Keboola', value: 'keboola'},
      {description: 'BigQuery datasets, queried remotely or materialised', name: 'BigQuery', value: 'bigquery'},
      {description: 'CSV/parquet files placed in the data directory', name: 'Local files', value: 'local'},
    ],
    current: (DATA_SOURCES as readonly string[]).includes(env?.get('DATA_SOURCE') ?? '') ? (env?.get('DATA_SOURCE') as DataSource) : undefined,
    fallback: 'local',
    flag: '--data-source',
    given: given.dataSource,
    label: 'Data source',
  })

  let keboolaUrl: string | undefined
  let bigqueryProject: string | undefined
  let bigqueryLocation: string | undefined
  if (dataSource === 'keboola') {
    keboolaUrl = validateHttpUrl(
      await ask({
        check: (value) => validateHttpUrl(value, '--keboola-url'),
        current: env?.get('KEBOOLA_STACK_URL'),
        explain: 'your Keboola stack, e.g. https://connection.keboola.com',
        flag: '--keboola-url',
        given: given.keboolaUrl,
        label: 'Keboola stack URL',
      }),
      '--keboola-url',
    )
  }

  if (dataSource === 'bigquery') {
    bigqueryProject = await ask({
      check: checkBigqueryProject,
      current: env?.get('BIGQUERY_PROJECT'),
      explain: 'the GCP project id that holds the datasets',
      flag: '--bigquery-project',
      given: given.bigqueryProject,
      label: 'BigQuery project',
    })
    checkBigqueryProject(bigqueryProject)

    bigqueryLocation = await ask({
      check: checkBigqueryLocation,
      current: env?.get('BIGQUERY_LOCATION'),
      explain: 'dataset location such as us, eu or europe-west1',
      fallback: 'us',
      flag: '--bigquery-location',
      given: given.bigqueryLocation,
      label: 'BigQuery location',
    })
    checkBigqueryLocation(bigqueryLocation)
  }

  const memory = validateMemory(
    await ask({
      check: (value) => validateMemory(value, '--memory'),
      current: env?.get('AGNES_APP_MEM_LIMIT'),
      explain: 'memory limit of the app container',
      fallback: '4g',
      flag: '--memory',
      given: given.memory,
      label: 'App memory limit',
    }),
    '--memory',
  )
  const cpus = validateCpus(
    await ask({
      check: (value) => validateCpus(value, '--cpus'),
      current: env?.get('AGNES_APP_CPUS'),
      explain: 'CPU limit of the app container',
      fallback: '2.0',
      flag: '--cpus',
      given: given.cpus,
      label: 'App CPU limit',
    }),
    '--cpus',
  )

  return {acmeEmail, adminEmail, bigqueryLocation, bigqueryProject, bind, channel, cpus, dataSource, domain, httpPort, keboolaUrl, memory, pin, repository, tls, tlsCertDir}
}
