// workshop-orchestrator: everything `azd up` provisions (azd template layout: subscription scope,
// one resource group, modules under ./modules). The Function App's app settings are the contract of
// config.ts (SETTING_PLACEMENT); tests/infra/appSettings.test.ts holds this folder to it.
targetScope = 'subscription'

// ── azd ──────────────────────────────────────────────────────────────────────────────────────
@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group (rg-<name>) and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of the app\'s resources. Pick one that offers the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person or pipeline running azd (AZURE_PRINCIPAL_ID): it may read the workshop API keys in Key Vault, which azd does on every later provision to keep them (secretOrRandomPassword). Empty = no such role assignment.')
param principalId string = ''

@description('Kind of principalId (AZURE_PRINCIPAL_TYPE).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// ── learner environments ────────────────────────────────────────────────────────────────────
@description('Subscription (GUID) that learner environments are deployed into; the app identity gets Contributor on it.')
param learnerSubscriptionId string

@description('Also let the app identity assign roles in the learner subscription, restricted by a condition to the data-plane roles the scenario packs assign (the packs\' templates create role assignments, which Contributor alone cannot).')
param learnerRoleAssignmentDelegation bool = true

@description('Default region of learner resource groups (LEARNER_LOCATION).')
param learnerLocation string = location

@description('Budget of a run that has none of its own, in USD (RUN_BUDGET_USD); empty = the packs\' development-cost maximum per environment.')
param runBudgetUsd string = ''

@description('Share of the budget at which the instructor is warned (RUN_BUDGET_WARN_FRACTION), in (0, 1].')
param runBudgetWarnFraction string = '0.8'

@description('Attempts of a learner-environment deployment, validation or teardown before the step fails (ENVIRONMENT_RETRY_ATTEMPTS).')
param environmentRetryAttempts string = '4'

@description('Seconds before the first retry of a learner-environment call; each next wait doubles, up to 2 minutes (ENVIRONMENT_RETRY_FIRST_SECONDS).')
param environmentRetryFirstSeconds string = '15'

// ── workshop API keys (kept in Key Vault; azd reads them back on the next provision) ─────────
@secure()
@minLength(1)
@description('Instructors\' key for the workshop API (INSTRUCTOR_API_KEY). main.parameters.json: azd secretOrRandomPassword.')
param instructorApiKey string

@secure()
@minLength(1)
@description('Secret that signs learner tokens (LEARNER_API_KEY). main.parameters.json: azd secretOrRandomPassword.')
param learnerApiKey string

// ── Teams bot ───────────────────────────────────────────────────────────────────────────────
@description('Client id of an existing single-tenant Entra app registration for the bot. Empty = the bot authenticates as a user-assigned managed identity created here (id-bot-…).')
param botAppId string = ''

@secure()
@description('Client secret of the botAppId app registration (stored in Key Vault); required when botAppId is set, ignored otherwise.')
param botAppSecret string = ''

@description('UPNs or Entra object ids (comma-separated) of the people who may start runs from Teams (BOT_INSTRUCTORS).')
param botInstructors string = ''

@description('Cloud of the Teams tenant (BOT_CLOUD).')
@allowed([
  'Public'
  'USGov'
  'USGovDoD'
  'China'
])
param botCloud string = 'Public'

@description('Connector for proactive sends to users with no stored conversation (BOT_SERVICE_URL); empty = the app\'s default.')
param botServiceUrl string = ''

@description('Outbox sender rate for the whole app, messages per second (BOT_APP_SENDS_PER_SECOND, at most 50).')
@minValue(1)
@maxValue(50)
param botAppSendsPerSecond int = 30

@description('Azure Bot pricing tier: F0 (free, standard channels such as Teams are free) or S1.')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'F0'

// ── app behaviour ───────────────────────────────────────────────────────────────────────────
@description('NCRONTAB schedule of the Teams outbox sender (TEAMS_SENDER_SCHEDULE). Every 2 s during a workshop; slower lets Flex Consumption scale to zero between cohorts.')
param teamsSenderSchedule string = '*/2 * * * * *'

@description('NCRONTAB schedule of the environment sweeper (SWEEPER_SCHEDULE).')
param sweeperSchedule string = '0 */5 * * * *'

@description('Log level of the app (LOG_LEVEL).')
@allowed([
  'fatal'
  'error'
  'warn'
  'info'
  'debug'
  'trace'
  'silent'
])
param logLevel string = 'info'

// ── hosting ─────────────────────────────────────────────────────────────────────────────────
@description('Durable Functions backend: the app\'s storage account (AzureStorage) or a Durable Task Scheduler created here.')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string = 'AzureStorage'

@description('Durable Task Scheduler SKU (durableBackend = DurableTaskScheduler).')
@allowed([
  'Consumption'
  'Dedicated'
])
param durableTaskSchedulerSku string = 'Consumption'

@description('Flex Consumption instance memory (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption scale-out limit.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

// ── names ───────────────────────────────────────────────────────────────────────────────────
var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var names = {
  resourceGroup: 'rg-${environmentName}'
  functionApp: 'func-${token}'
  plan: 'plan-${token}'
  storage: 'st${token}'
  keyVault: 'kv-${token}'
  appInsights: 'appi-${token}'
  logAnalytics: 'log-${token}'
  appIdentity: 'id-app-${token}'
  botIdentity: 'id-bot-${token}'
  bot: 'bot-${token}'
  scheduler: 'dts-${token}'
}
// host.json extensions.durableTask.hubName: the Durable Task Scheduler's task hub has the same name.
var taskHubName = 'WorkshopHub'
var useScheduler = durableBackend == 'DurableTaskScheduler'
// An older azd passes '' for a parameter whose environment variable is unset (newer ones omit it).
var learnerRegion = empty(learnerLocation) ? location : learnerLocation
var senderSchedule = empty(teamsSenderSchedule) ? '*/2 * * * * *' : teamsSenderSchedule
var sweepSchedule = empty(sweeperSchedule) ? '0 */5 * * * *' : sweeperSchedule
var botUsesManagedIdentity = empty(botAppId)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  scope: rg
  params: {
    location: location
    tags: tags
    appIdentityName: names.appIdentity
    botIdentityName: names.botIdentity
    createBotIdentity: botUsesManagedIdentity
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.storage
    deploymentContainerName: 'app-package-${names.functionApp}'
  }
}

module keyVault 'modules/keyVault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.keyVault
    instructorApiKey: instructorApiKey
    learnerApiKey: learnerApiKey
    storeBotAppSecret: !botUsesManagedIdentity
    botAppSecret: botAppSecret
  }
}

module scheduler 'modules/durableTaskScheduler.bicep' = if (useScheduler) {
  name: 'durableTaskScheduler'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.scheduler
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
  }
}

module appRoles 'modules/roleAssignments.bicep' = {
  name: 'appRoleAssignments'
  scope: rg
  params: {
    appPrincipalId: identities.outputs.appPrincipalId
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    schedulerName: useScheduler ? names.scheduler : ''
    taskHubName: taskHubName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
  dependsOn: [
    scheduler
  ]
}

// Contributor (and optionally constrained role assignment) on the learner subscription only.
// A management group scope is left out on purpose: Resource Manager cannot target a management group
// from a subscription-scope deployment except through a tenant-scope hop, and a tenant-scope deployment
// needs Microsoft.Resources/deployments/* at "/" (elevated access) that an azd user does not have.
module learnerAccess 'modules/learnerSubscriptionAccess.bicep' = {
  name: 'learnerAccess-${token}'
  scope: subscription(learnerSubscriptionId)
  params: {
    appPrincipalId: identities.outputs.appPrincipalId
    delegateRoleAssignments: learnerRoleAssignmentDelegation
  }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.functionApp
    planName: names.plan
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    instructorApiKeySecretName: keyVault.outputs.instructorApiKeySecretName
    learnerApiKeySecretName: keyVault.outputs.learnerApiKeySecretName
    botAppSecretSecretName: keyVault.outputs.botAppSecretSecretName
    appIdentityId: identities.outputs.appIdentityId
    appIdentityClientId: identities.outputs.appClientId
    botIdentityId: identities.outputs.botIdentityId
    botIdentityClientId: identities.outputs.botClientId
    botUsesManagedIdentity: botUsesManagedIdentity
    botAppId: botUsesManagedIdentity ? identities.outputs.botClientId : botAppId
    botInstructors: botInstructors
    botCloud: botCloud
    botServiceUrl: botServiceUrl
    botAppSendsPerSecond: botAppSendsPerSecond
    learnerSubscriptionId: learnerSubscriptionId
    learnerLocation: learnerRegion
    runBudgetUsd: runBudgetUsd
    runBudgetWarnFraction: runBudgetWarnFraction
    environmentRetryAttempts: environmentRetryAttempts
    environmentRetryFirstSeconds: environmentRetryFirstSeconds
    teamsSenderSchedule: senderSchedule
    sweeperSchedule: sweepSchedule
    logLevel: logLevel
    useScheduler: useScheduler
    schedulerEndpoint: useScheduler ? scheduler!.outputs.endpoint : ''
    taskHubName: taskHubName
  }
  // The identity must hold its storage, Key Vault and monitoring roles before the host first starts
  // (Key Vault references are resolved then; deployment storage is read at the first azd deploy).
  dependsOn: [
    appRoles
  ]
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  scope: rg
  params: {
    tags: tags
    name: names.bot
    sku: botSku
    messagingEndpoint: 'https://${functionApp.outputs.defaultHostName}/api/messages'
    usesManagedIdentity: botUsesManagedIdentity
    appId: botUsesManagedIdentity ? identities.outputs.botClientId : botAppId
    botIdentityId: identities.outputs.botIdentityId
  }
}

// ── outputs azd stores in .azure/<env>/.env (hooks and `npm run package:teams` read them) ──────
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output PUBLIC_HOST string = functionApp.outputs.defaultHostName
output WORKSHOP_API_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output BOT_APP_ID string = botUsesManagedIdentity ? identities.outputs.botClientId : botAppId
output AZURE_BOT_NAME string = bot.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identities.outputs.appClientId
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useScheduler ? scheduler!.outputs.endpoint : ''
