metadata description = 'Enterprise Data Lakehouse: the learner\'s foundation (ADLS Gen2 lake, Data Factory, Event Hubs, Stream Analytics, Synapse with a Spark pool, Azure ML, Purview, Key Vault, Log Analytics). With deployReferenceSolution the implementation tasks\' results too: managed-identity role assignments, Event Hubs Capture, the nightly trigger, lifecycle policy, Spark auto-pause, Key Vault RBAC and diagnostic settings.'

@description('Short unique prefix (lower-case letters and digits); the lake account is <prefix>lake.')
@minLength(3)
@maxLength(16)
param namePrefix string

@description('Azure region for all resources.')
param location string = resourceGroup().location

@description('Entra ID object id of the learner; when empty, no access is granted to a person.')
param learnerObjectId string = ''

@description('Password of the Synapse SQL administrator login.')
@secure()
param synapseSqlAdminPassword string

@description('Node size of the Synapse Spark pool.')
@allowed([
  'Small'
  'Medium'
  'Large'
])
param sparkNodeSize string = 'Small'

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
  eventHub: 'pos-events'
  streamJob: '${namePrefix}-asa'
  dataFactory: '${namePrefix}-adf'
  synapse: '${namePrefix}-syn'
  sparkPool: 'spark'
  mlWorkspace: '${namePrefix}-mlw'
  purview: '${namePrefix}-pview'
}
var lakeZones = [
  'bronze'
  'silver'
  'gold'
  'synapse'
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
var capture = {
  enabled: true
  encoding: 'Avro'
  intervalInSeconds: 300
  sizeLimitInBytes: 314572800
  skipEmptyArchives: true
  destination: {
    name: 'EventHubArchive.AzureBlockBlob'
    properties: {
      storageAccountResourceId: lake.id
      blobContainer: 'bronze'
      archiveNameFormat: 'pos-events/{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}'
    }
  }
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
    name: 'Standard_ZRS'
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

resource lakeBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: lake
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource lakeContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for item in lakeZones: {
    parent: lakeBlobService
    name: item
    properties: {
      publicAccess: 'None'
    }
  }
]

@description('Azure ML\'s default storage: a workspace\'s storage account cannot have a hierarchical namespace, so it is not the lake.')
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
    enableRbacAuthorization: deployReferenceSolution
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    accessPolicies: (((deployReferenceSolution == true) || empty(learnerObjectId))
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
    publicNetworkAccess: 'Enabled'
  }
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: eventHubs
  name: names.eventHub
  properties: {
    partitionCount: 4
    messageRetentionInDays: 1
    captureDescription: (deployReferenceSolution ? capture : null)
  }
  dependsOn: [
    lakeContainers[0]
  ]
}

resource streamAnalyticsConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: eventHub
  name: 'stream-analytics'
  properties: {}
}

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
        query: 'SELECT StoreId, System.Timestamp() AS WindowEnd, SUM(Amount) AS Sales INTO [silver-store-sales] FROM [pos-events] TIMESTAMP BY EventTime GROUP BY StoreId, TumblingWindow(minute, 5)'
      }
    }
  }
}

resource dataFactory 'Microsoft.DataFactory/factories@2018-06-01' = {
  name: names.dataFactory
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: 'Enabled'
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
    managedVirtualNetwork: ''
  }
  dependsOn: [
    lakeContainers[3]
  ]
}

resource synapseAllowAzure 'Microsoft.Synapse/workspaces/firewallRules@2021-06-01' = {
  parent: synapse
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource sparkPool 'Microsoft.Synapse/workspaces/bigDataPools@2021-06-01' = {
  parent: synapse
  name: names.sparkPool
  location: location
  tags: tags
  properties: {
    nodeCount: 3
    nodeSize: sparkNodeSize
    nodeSizeFamily: 'MemoryOptimized'
    sparkVersion: '3.4'
    autoScale: {
      enabled: true
      minNodeCount: 3
      maxNodeCount: 5
    }
    autoPause: {
      enabled: deployReferenceSolution
      delayInMinutes: 15
    }
    dynamicExecutorAllocation: {
      enabled: false
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
    friendlyName: 'Lakehouse ML'
    storageAccount: mlStorage.id
    keyVault: keyVault.id
    applicationInsights: appInsights.id
    publicNetworkAccess: 'Enabled'
    v1LegacyMode: false
  }
}

resource purview 'Microsoft.Purview/accounts@2021-12-01' = {
  name: names.purview
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: 'Enabled'
    managedResourceGroupName: '${namePrefix}-purview-managed'
  }
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

resource dataFactoryLakeContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: lake
  name: guid(lake.id, dataFactory.id, roles.blobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: dataFactory.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource synapseLakeContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: lake
  name: guid(lake.id, synapse.id, roles.blobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: synapse.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource purviewLakeReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: lake
  name: guid(lake.id, purview.id, roles.blobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader)
    principalId: purview.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource dataFactorySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: keyVault
  name: guid(keyVault.id, dataFactory.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: dataFactory.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource learnerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution && (!empty(learnerObjectId))) {
  scope: keyVault
  name: guid(keyVault.id, learnerObjectId, roles.keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: learnerObjectId
    principalType: 'User'
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

resource lakeLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (deployReferenceSolution) {
  parent: lake
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'bronze-tiering'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'bronze/'
              ]
            }
            actions: {
              baseBlob: {
                tierToCool: {
                  daysAfterModificationGreaterThan: 30
                }
                tierToArchive: {
                  daysAfterModificationGreaterThan: 180
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource dataFactoryNightlyBatch 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = if (deployReferenceSolution) {
  parent: dataFactory
  name: 'nightly-batch'
  properties: {
    description: 'ERP and CRM to bronze, then the silver/gold notebook.'
    activities: [
      {
        name: 'Placeholder'
        type: 'Wait'
        typeProperties: {
          waitTimeInSeconds: 1
        }
      }
    ]
  }
}

resource dataFactoryNightly0200 'Microsoft.DataFactory/factories/triggers@2018-06-01' = if (deployReferenceSolution) {
  parent: dataFactory
  name: 'nightly-0200'
  properties: {
    type: 'ScheduleTrigger'
    description: 'Runs the batch at 02:00 UTC; a template creates it Stopped -- start it.'
    pipelines: [
      {
        pipelineReference: {
          referenceName: 'nightly-batch'
          type: 'PipelineReference'
        }
      }
    ]
    typeProperties: {
      recurrence: {
        frequency: 'Day'
        interval: 1
        startTime: '2026-01-01T02:00:00Z'
        timeZone: 'UTC'
        schedule: {
          hours: [
            2
          ]
          minutes: [
            0
          ]
        }
      }
    }
  }
  dependsOn: [
    dataFactoryNightlyBatch
  ]
}

resource dataFactoryDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: dataFactory
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'PipelineRuns'
        enabled: true
      }
      {
        category: 'ActivityRuns'
        enabled: true
      }
      {
        category: 'TriggerRuns'
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

resource synapseDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: synapse
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'IntegrationPipelineRuns'
        enabled: true
      }
      {
        category: 'IntegrationActivityRuns'
        enabled: true
      }
      {
        category: 'BuiltinSqlReqsEnded'
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

resource keyVaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: keyVault
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'AuditEvent'
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

output lakeAccountName string = names.lake
output lakeDfsEndpoint string = lake.properties.primaryEndpoints.dfs
output synapseWorkspace string = names.synapse
output dataFactoryPrincipalId string = dataFactory.identity.principalId
output logAnalyticsWorkspaceId string = law.id
