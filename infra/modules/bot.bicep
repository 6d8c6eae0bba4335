// Azure Bot registration with the Microsoft Teams channel; Teams posts activities to the Function App's
// /api/messages. The bot authenticates either as the user-assigned identity id-bot-… (UserAssignedMSI)
// or as an existing single-tenant app registration (its secret is in Key Vault).
param tags object
param name string
@allowed([
  'F0'
  'S1'
])
param sku string
param messagingEndpoint string
param usesManagedIdentity bool
@description('The bot\'s Microsoft App ID: the managed identity\'s client id, or the app registration\'s.')
param appId string
param botIdentityId string

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: sku
  }
  properties: {
    displayName: 'Workshop Orchestrator'
    description: 'Hands-on cloud architecture workshops: learner prompts and instructor commands.'
    endpoint: messagingEndpoint
    msaAppId: appId
    msaAppType: usesManagedIdentity ? 'UserAssignedMSI' : 'SingleTenant'
    msaAppTenantId: tenant().tenantId
    msaAppMSIResourceId: usesManagedIdentity ? botIdentityId : null
    publicNetworkAccess: 'Enabled'
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  tags: tags
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
    }
  }
}

output name string = bot.name
