metadata description = 'Real-Time ML Scoring Pipeline: the learner\'s foundation (Event Hubs with the transactions hub, Stream Analytics, Synapse with a Spark pool, Azure ML with its storage, Key Vault, Application Insights and container registry, Cosmos DB with features and scores, the scoring identity). With deployReferenceSolution the implementation tasks\' results too: role assignments, the Cosmos DB data role, champion and challenger container groups, score expiry, Spark auto-pause and diagnostic settings.'

@description('Short unique prefix (lower-case letters and digits) for every resource name.')
@minLength(3)
@maxLength(16)
param namePrefix string

@description('Azure region for all resources.')
param location string = resourceGroup().location

@description('Entra ID object id of the learner; when empty, no access is granted to a person.')
param learnerObjectId string = ''

@description('Password of the Synapse SQL administrator login, also stored in the environment\'s Key Vault.')
@secure()
param synapseSqlAdminPassword string

@description('Partitions of the transactions event hub; bounds the parallel scoring workers.')
@minValue(1)
@maxValue(32)
param eventHubPartitions int = 8

@description('Value of the workshop-pack tag (the pack id): the cost guard and teardown find environments by it.')
param workshopPack string

@description('false: the foundation only, as learners receive it. true: also what the implementation tasks add (role assignments, diagnostic settings, ...) -- a finished environment for rehearsals and tests.')
param deployReferenceSolution bool = false

var tags = {
  'workshop-pack': workshopPack
}
var names = {
  law: '${namePrefix}-law'
  appInsights: '${namePrefix}-appi'
  lake: '${namePrefix}lake'
  mlStorage: '${namePrefix}mlst'
  keyVault: '${namePrefix}-kv'
  eventHubs: '${namePrefix}-evhns'
  eventHub: 'transactions'
  streamJob: '${namePrefix}-asa'
  synapse: '${namePrefix}-syn'
  sparkPool: 'spark'
  mlWorkspace: '${namePrefix}-mlw'
  registry: '${namePrefix}acr'
  cosmos: '${namePrefix}-cosmos'
  cosmosDatabase: 'fraud'
  scoringIdentity: '${namePrefix}-scoring-id'
}
var lakeFileSystems = [
  'synapse'
  'features'
]
var consumerGroups = [
  'features'
  'scoring-champion'
  'scoring-challenger'
]
var roles = {
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

@description('Adds workshop-pack=<pack> to the resource group, keeping the tags the engine set (run, learner, expiry).')
resource groupTags 'Microsoft.Resources/tags@2024-03-01' = {
  name: 'default'
  properties: {
    tags: union(resourceGroup().?tags ?? {}, tags)
  }
}

resource law 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.law
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.appInsights
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: law.id
    IngestionMode: 'LogAnalytics'
  }
}

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.lake
  location: location
  tags: tags
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  properties: {
    isHnsEnabled: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
    allowSharedKeyAccess: false
    accessTier: 'Hot'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource lakeContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for item in lakeFileSystems: {
    name: '${names.lake}/default/${item}'
    properties: {
      publicAccess: 'None'
    }
    dependsOn: [
      lake
    ]
  }
]

@description('Azure ML\'s default storage (no hierarchical namespace).')
resource mlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.mlStorage
  location: location
  tags: tags
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  properties: {
    isHnsEnabled: false
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
    allowSharedKeyAccess: true
    accessTier: 'Hot'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.keyVault
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    accessPolicies: (((true == true) || empty(learnerObjectId))
      ? []
      : [
          {
            tenantId: subscription().tenantId
            objectId: learnerObjectId
            permissions: {
              secrets: [
                'get'
                'list'
                'set'
                'delete'
              ]
            }
          }
        ])
    publicNetworkAccess: 'Enabled'
  }
}

resource keyVaultSynapseSqlAdminPassword 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'synapse-sql-admin-password'
  properties: {
    value: synapseSqlAdminPassword
    contentType: 'text/plain'
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: names.registry
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

resource eventHubs 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: names.eventHubs
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    isAutoInflateEnabled: false
  }
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: eventHubs
  name: names.eventHub
  properties: {
    partitionCount: eventHubPartitions
    messageRetentionInDays: 1
  }
}

resource eventHubConsumerGroups 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [
  for item in consumerGroups: {
    parent: eventHub
    name: item
    properties: {}
  }
]

resource streamJob 'Microsoft.StreamAnalytics/streamingjobs@2020-03-01' = {
  name: names.streamJob
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    sku: {
      name: 'Standard'
    }
    jobType: 'Cloud'
    compatibilityLevel: '1.2'
    dataLocale: 'en-US'
    eventsOutOfOrderPolicy: 'Adjust'
    eventsOutOfOrderMaxDelayInSeconds: 5
    eventsLateArrivalMaxDelayInSeconds: 10
    outputErrorPolicy: 'Stop'
    contentStoragePolicy: 'SystemAccount'
    transformation: {
      name: 'Transformation'
      properties: {
        streamingUnits: 1
        query: 'SELECT CardToken AS id, COUNT(*) AS TxnCount10m, SUM(Amount) AS Spend10m INTO [features] FROM [transactions] TIMESTAMP BY EventTime GROUP BY CardToken, HoppingWindow(minute, 10, 1)'
      }
    }
  }
}

resource synapse 'Microsoft.Synapse/workspaces@2021-06-01' = {
  name: names.synapse
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    defaultDataLakeStorage: {
      accountUrl: lake.properties.primaryEndpoints.dfs
      filesystem: 'synapse'
      resourceId: lake.id
      createManagedPrivateEndpoint: false
    }
    sqlAdministratorLogin: 'sqladminuser'
    sqlAdministratorLoginPassword: synapseSqlAdminPassword
    publicNetworkAccess: 'Enabled'
  }
  dependsOn: [
    lakeContainers[0]
  ]
}

resource sparkPool 'Microsoft.Synapse/workspaces/bigDataPools@2021-06-01' = {
  parent: synapse
  name: names.sparkPool
  location: location
  tags: tags
  properties: {
    nodeCount: 3
    nodeSize: 'Small'
    nodeSizeFamily: 'MemoryOptimized'
    sparkVersion: '3.4'
    autoScale: {
      enabled: false
    }
    autoPause: {
      enabled: deployReferenceSolution
      delayInMinutes: 15
    }
  }
}

resource mlWorkspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' = {
  name: names.mlWorkspace
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  properties: {
    friendlyName: 'Fraud scoring'
    storageAccount: mlStorage.id
    keyVault: keyVault.id
    applicationInsights: appInsights.id
    containerRegistry: registry.id
    publicNetworkAccess: 'Enabled'
    v1LegacyMode: false
  }
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: names.cosmos
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    minimalTlsVersion: 'Tls12'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource cosmosDatabase 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: names.cosmosDatabase
  properties: {
    resource: {
      id: names.cosmosDatabase
    }
    options: {
      autoscaleSettings: {
        maxThroughput: 1000
      }
    }
  }
}

resource cosmosDatabaseFeatures 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: cosmosDatabase
  name: 'features'
  properties: {
    resource: {
      id: 'features'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

resource cosmosDatabaseScores 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: cosmosDatabase
  name: 'scores'
  properties: {
    resource: {
      id: 'scores'
      partitionKey: {
        paths: [
          '/cardToken'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: (deployReferenceSolution ? 2592000 : null)
    }
  }
}

@description('The scoring workers\' identity (champion and challenger container groups).')
resource scoringIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.scoringIdentity
  location: location
  tags: tags
}

resource learnerLakeContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(learnerObjectId)) {
  scope: lake
  name: guid(lake.id, learnerObjectId, roles.blobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: learnerObjectId
    principalType: 'User'
  }
}

resource learnerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(learnerObjectId)) {
  scope: keyVault
  name: guid(keyVault.id, learnerObjectId, roles.keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: learnerObjectId
    principalType: 'User'
  }
}

resource synapseLakeContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: lake
  name: guid(lake.id, synapse.id, roles.blobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: synapse.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource streamJobEventHubsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: eventHubs
  name: guid(eventHubs.id, streamJob.id, roles.eventHubsDataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: streamJob.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource acrPullForScoring 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: registry
  name: guid(registry.id, scoringIdentity.id, roles.acrPull)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: scoringIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource scoringEventHubsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: eventHubs
  name: guid(eventHubs.id, scoringIdentity.id, roles.eventHubsDataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: scoringIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource scoringCosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (deployReferenceSolution) {
  parent: cosmos
  name: guid(cosmos.id, scoringIdentity.id, 'data-contributor')
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    principalId: scoringIdentity.properties.principalId
    scope: cosmos.id
  }
}

resource championAci 'Microsoft.ContainerInstance/containerGroups@2023-05-01' = if (deployReferenceSolution) {
  name: '${namePrefix}-aci-champion'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${scoringIdentity.id}': {}
    }
  }
  properties: {
    osType: 'Linux'
    restartPolicy: 'Always'
    sku: 'Standard'
    containers: [
      {
        name: 'scorer'
        properties: {
          image: '${names.registry}.azurecr.io/fraud-scoring:v1'
          resources: {
            requests: {
              cpu: 1
              memoryInGB: json('1.5')
            }
          }
          environmentVariables: [
            {
              name: 'MODEL_ROLE'
              value: 'champion'
            }
            {
              name: 'TRAFFIC_SHARE'
              value: '90'
            }
            {
              name: 'EVENTHUB_NAMESPACE'
              value: '${names.eventHubs}.servicebus.windows.net'
            }
            {
              name: 'EVENTHUB_CONSUMER_GROUP'
              value: 'scoring-champion'
            }
            {
              name: 'COSMOS_ENDPOINT'
              value: cosmos.properties.documentEndpoint
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: scoringIdentity.properties.clientId
            }
          ]
        }
      }
    ]
    imageRegistryCredentials: [
      {
        server: '${names.registry}.azurecr.io'
        identity: scoringIdentity.id
      }
    ]
    diagnostics: {
      logAnalytics: {
        workspaceId: law.properties.customerId
        workspaceKey: law.listKeys().primarySharedKey
        logType: 'ContainerInstanceLogs'
      }
    }
  }
  dependsOn: [
    registry
    acrPullForScoring
  ]
}

resource challengerAci 'Microsoft.ContainerInstance/containerGroups@2023-05-01' = if (deployReferenceSolution) {
  name: '${namePrefix}-aci-challenger'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${scoringIdentity.id}': {}
    }
  }
  properties: {
    osType: 'Linux'
    restartPolicy: 'Always'
    sku: 'Standard'
    containers: [
      {
        name: 'scorer'
        properties: {
          image: '${names.registry}.azurecr.io/fraud-scoring:v2'
          resources: {
            requests: {
              cpu: 1
              memoryInGB: json('1.5')
            }
          }
          environmentVariables: [
            {
              name: 'MODEL_ROLE'
              value: 'challenger'
            }
            {
              name: 'TRAFFIC_SHARE'
              value: '10'
            }
            {
              name: 'EVENTHUB_NAMESPACE'
              value: '${names.eventHubs}.servicebus.windows.net'
            }
            {
              name: 'EVENTHUB_CONSUMER_GROUP'
              value: 'scoring-challenger'
            }
            {
              name: 'COSMOS_ENDPOINT'
              value: cosmos.properties.documentEndpoint
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: scoringIdentity.properties.clientId
            }
          ]
        }
      }
    ]
    imageRegistryCredentials: [
      {
        server: '${names.registry}.azurecr.io'
        identity: scoringIdentity.id
      }
    ]
    diagnostics: {
      logAnalytics: {
        workspaceId: law.properties.customerId
        workspaceKey: law.listKeys().primarySharedKey
        logType: 'ContainerInstanceLogs'
      }
    }
  }
  dependsOn: [
    registry
    acrPullForScoring
  ]
}

resource streamJobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: streamJob
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'Execution'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource eventHubsDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: eventHubs
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'OperationalLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource cosmosDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: cosmos
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'DataPlaneRequests'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output eventHubNamespace string = names.eventHubs
output registryLoginServer string = registry.properties.loginServer
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output scoringIdentityPrincipalId string = scoringIdentity.properties.principalId
output scoringIdentityClientId string = scoringIdentity.properties.clientId
