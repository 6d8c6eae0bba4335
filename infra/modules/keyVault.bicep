// Key Vault (RBAC authorization, soft delete + purge protection) for the workshop API keys and the
// bot's client secret. The Function App reads them through Key Vault references with its identity.
param location string
param tags object
@minLength(3)
@maxLength(24)
param name string
@secure()
param instructorApiKey string
@secure()
param learnerApiKey string
@description('Store botAppSecret (a bot with its own app registration).')
param storeBotAppSecret bool
@secure()
param botAppSecret string

// azd's secretOrRandomPassword makes 15 characters (5 lower, 5 upper, 5 digits) and the app wants at least
// 16: a shorter value is lengthened by a hash of itself. The stored value is what azd reads back next
// time, so the key stays the same across provisions.
var instructorKey = length(instructorApiKey) >= 16 ? instructorApiKey : '${instructorApiKey}${uniqueString(instructorApiKey)}'
var learnerKey = length(learnerApiKey) >= 16 ? learnerApiKey : '${learnerApiKey}${uniqueString(learnerApiKey)}'

var secretNames = {
  instructorApiKey: 'instructor-api-key'
  learnerApiKey: 'learner-api-key'
  botAppSecret: 'bot-app-secret'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource instructorApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretNames.instructorApiKey
  properties: {
    value: instructorKey
    contentType: 'text/plain'
  }
}

resource learnerApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretNames.learnerApiKey
  properties: {
    value: learnerKey
    contentType: 'text/plain'
  }
}

resource botAppSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (storeBotAppSecret) {
  parent: vault
  name: secretNames.botAppSecret
  properties: {
    value: botAppSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
output instructorApiKeySecretName string = instructorApiKeySecret.name
output learnerApiKeySecretName string = learnerApiKeySecret.name
output botAppSecretSecretName string = secretNames.botAppSecret
