// The app's user-assigned identity (storage, Key Vault references, telemetry, ARM in the learner
// subscription, the Durable Task Scheduler) and, for a managed-identity bot, the bot's own identity.
param location string
param tags object
param appIdentityName string
param botIdentityName string
@description('Create id-bot-… (the Azure Bot authenticates as it: msaAppType UserAssignedMSI).')
param createBotIdentity bool

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

// Separate from the app identity: the bot's identity holds no Azure role, and the app identity's
// client id never becomes a public bot id.
resource botIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (createBotIdentity) {
  name: botIdentityName
  location: location
  tags: tags
}

output appIdentityId string = appIdentity.id
output appClientId string = appIdentity.properties.clientId
output appPrincipalId string = appIdentity.properties.principalId
output botIdentityId string = createBotIdentity ? botIdentity.id : ''
output botClientId string = createBotIdentity ? botIdentity!.properties.clientId : ''
