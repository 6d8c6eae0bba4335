// The Function App on the Flex Consumption plan (Node 22) and its app settings.
// App settings are the contract of config.ts's SETTING_PLACEMENT: every `where: 'azure'` setting is a key
// of one of the *Settings objects below, and no other key is (tests/infra/appSettings.test.ts).
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not app settings on Flex Consumption
// (functionAppConfig.runtime replaces them), so they are absent on purpose.
param location string
param tags object
param name string
param planName string
param instanceMemoryMB int
param maximumInstanceCount int

param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param keyVaultName string
param instructorApiKeySecretName string
param learnerApiKeySecretName string
param botAppSecretSecretName string

param appIdentityId string
param appIdentityClientId string
@description('Resource id of id-bot-… (empty for a bot with its own app registration).')
param botIdentityId string
param botIdentityClientId string
param botUsesManagedIdentity bool
param botAppId string
param botInstructors string
param botCloud string
param botServiceUrl string
param botAppSendsPerSecond int

param learnerSubscriptionId string
param learnerLocation string
param runBudgetUsd string
param runBudgetWarnFraction string
param environmentRetryAttempts string
param environmentRetryFirstSeconds string
param teamsSenderSchedule string
param sweeperSchedule string
param logLevel string

param useScheduler bool
param schedulerEndpoint string
param taskHubName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

// The app identity always; the bot's identity too when the bot authenticates as a managed identity.
var appIdentityMap = {
  '${appIdentityId}': {}
}
// (without a bot identity this repeats the app identity, which union() folds: no empty key, no condition)
var botIdentityMap = {
  '${botUsesManagedIdentity ? botIdentityId : appIdentityId}': {}
}
var identities = union(appIdentityMap, botIdentityMap)

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: identities
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in the app settings are resolved with the app identity (it holds Key Vault Secrets User).
    keyVaultReferenceIdentity: appIdentityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Storage endpoints come from the account itself (sovereign clouds have other suffixes); they end in '/'.
var blobEndpoint = storage.properties.primaryEndpoints.blob
var queueEndpoint = storage.properties.primaryEndpoints.queue
var tableEndpoint = storage.properties.primaryEndpoints.table

// ── app settings ────────────────────────────────────────────────────────────────────────────────
// The app's storage through the app identity: read by the Functions host (AzureWebJobsStorage, the
// Azure Storage task hub) and by the app (config.ts tableClient: the workshop's tables).
var storageSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__blobServiceUri: take(blobEndpoint, length(blobEndpoint) - 1)
  AzureWebJobsStorage__queueServiceUri: take(queueEndpoint, length(queueEndpoint) - 1)
  AzureWebJobsStorage__tableServiceUri: take(tableEndpoint, length(tableEndpoint) - 1)
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: appIdentityClientId
  // Two user-assigned identities may be attached: DefaultAzureCredential must know which one is the app's.
  AZURE_CLIENT_ID: appIdentityClientId
}

// Telemetry with Entra ID (the component has local authentication disabled).
var telemetrySettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${appIdentityClientId};Authorization=AAD'
}

// Learner environments, budgets, the workshop API and the timer schedules.
var workshopSettings = {
  ARM_ENDPOINT: environment().resourceManager
  LEARNER_SUBSCRIPTION_ID: learnerSubscriptionId
  LEARNER_LOCATION: learnerLocation
  RUN_BUDGET_USD: runBudgetUsd
  RUN_BUDGET_WARN_FRACTION: runBudgetWarnFraction
  ENVIRONMENT_RETRY_ATTEMPTS: environmentRetryAttempts
  ENVIRONMENT_RETRY_FIRST_SECONDS: environmentRetryFirstSeconds
  INSTRUCTOR_API_KEY: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${instructorApiKeySecretName})'
  LEARNER_API_KEY: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${learnerApiKeySecretName})'
  TEAMS_SENDER_SCHEDULE: teamsSenderSchedule
  SWEEPER_SCHEDULE: sweeperSchedule
  LOG_LEVEL: logLevel
}

// The Teams bot (bot/settings.ts). BOT_APP_ID turns it on.
var botSettings = {
  BOT_APP_ID: botAppId
  BOT_TENANT_ID: tenant().tenantId
  BOT_INSTRUCTORS: botInstructors
  BOT_CLOUD: botCloud
  BOT_SERVICE_URL: botServiceUrl
  BOT_APP_SENDS_PER_SECOND: string(botAppSendsPerSecond)
}

// Exactly one of the two bot credentials is set (the app treats a set BOT_APP_SECRET as "use the secret").
var botManagedIdentitySettings = {
  BOT_MANAGED_IDENTITY_CLIENT_ID: botIdentityClientId
}
var botSecretSettings = {
  BOT_APP_SECRET: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${botAppSecretSecretName})'
}

// Durable Task Scheduler backend: host.json overrides read by the Functions host. Left out entirely for
// the Azure Storage backend, because the host may not read an empty value as "unset".
var durableTaskSchedulerSettings = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${appIdentityClientId};TaskHub=${taskHubName}'
}

var allAppSettings = union(storageSettings, telemetrySettings, workshopSettings, botSettings, botUsesManagedIdentity ? botManagedIdentitySettings : botSecretSettings, useScheduler ? durableTaskSchedulerSettings : {})

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: allAppSettings
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
